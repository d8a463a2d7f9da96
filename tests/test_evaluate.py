"""`biblip evaluate`: baselines on a hand-made labels file, tables written, cases reproducible."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest

from biblip_cli.engine.protocol import VariantEngine
from biblip_cli.evaluation import baselines
from biblip_cli.evaluation.cases import build_cases, read_cases
from biblip_cli.evaluation.evaluate import EvaluateOptions, run_evaluate
from biblip_cli.evaluation.generation import field_hits, generation_accuracy, stated_label
from biblip_cli.io.datasets import read_labels, read_pairs
from biblip_cli.model.describe import NO_PHENOTYPES, DescribeFields
from biblip_cli.records import ProteinVariant

LABELS = """gene_symbol\tuniprot_acc\tvariant_id\thgvs_p\tref_aa\tposition\talt_aa\tlabel\trsid\tdisease_ids\tdisease_names\tomim_ids
GENEA\tP1\tV1\tp.Arg10Ter\tR\t10\t*\tpathogenic\t\tDI-1\tx\t1
GENEA\tP1\tV2\tp.Trp20Cys\tW\t20\tC\tpathogenic\t\tDI-1\tx\t1
GENEA\tP1\tV3\tp.Leu30Leu\tL\t30\tL\tbenign\t\t\t\t
GENEB\tP2\tV4\tp.Ile5Val\tI\t5\tV\tbenign\t\t\t\t
GENEB\tP2\tV5\tp.Gly7Trp\tG\t7\tW\tpathogenic\t\t\t\t
GENEB\tP2\tV6\tp.Ala9Ser\tA\t9\tS\tbenign\t\t\t\t
GENEB\tP2\tV7\tp.Ala11Val\tA\t11\tV\tuncertain\t\t\t\t
"""

PAIRS = """chrom\tchromStart\tchromEnd\tname\tEffectSize\tchrTSS\tstartTSS\tendTSS\tmeasuredGeneSymbol\tSignificant\tpValueAdjusted\tPowerAtEffectSize25\tValidConnection\tCellType\tReference\tRegulated
chr1\t1000\t1500\te1\t-0.3\tchr1\t2000\t2001\tG1\tTRUE\t0.01\t0.9\tTRUE\tK562\tx\tTRUE
chr1\t1000\t1500\te1\t0.0\tchr1\t90000\t90001\tG2\tFALSE\t0.9\t0.9\tTRUE\tK562\tx\tFALSE
chr1\t1000\t1500\te1\t0.0\tchr1\t500000\t500001\tG3\tFALSE\t0.9\t0.9\tTRUE\tK562\tx\tFALSE
chr1\t7000\t7200\te2\t-0.4\tchr1\t90000\t90001\tG2\tTRUE\t0.01\t0.9\tTRUE\tK562\tx\tTRUE
chr1\t7000\t7200\te2\t0.0\tchr1\t2000\t2001\tG1\tFALSE\t0.9\t0.9\tTRUE\tK562\tx\tFALSE
chr1\t7000\t7200\te2\t0.0\tchr1\t2000\t2001\tG9\tFALSE\t0.9\t0.9\toverlaps potential promoter\tK562\tx\tFALSE
"""

ABC = """chr\tstart\tend\tname\tclass\tTargetGene\tTargetGeneEnsemblID\tTargetGeneTSS\tCellType\tpowerlaw.Score\tDistanceToTSS
chr1\t900\t1100\tx\tgenic\tG1\tNA\t2000\tK562\t0.5\tNA
chr1\t7100\t7150\tx\tgenic\tG2\tNA\t90000\tK562\t0.02\tNA
chr1\t7100\t7150\tx\tgenic\tG1\tNA\t2000\tK562\t0.01\tNA
"""


class FakeEngine:
    """Scores pathogenic-looking changes high; describes variants with a fixed template (a VariantEngine)."""

    metadata: ClassVar[dict] = {
        "splits": {"test_genes": ["GENEA", "GENEB", "G1", "G2", "G3"], "val_genes": []}
    }
    has_llm = True

    def pathogenicity(self, variants: list[ProteinVariant]) -> np.ndarray:
        return np.array([0.9 if v.alt_aa in "*WC" else 0.2 for v in variants])

    def reported_pathogenicity(self, variants: list[ProteinVariant]) -> np.ndarray:
        return self.pathogenicity(variants)

    def cheap_pathogenicity(self, variants: list[ProteinVariant]) -> np.ndarray:
        return np.array([0.6 if v.alt_aa == "*" else 0.4 for v in variants])

    def llm_alone_pathogenicity(self, variants: list[ProteinVariant]) -> np.ndarray:
        return np.zeros(len(variants))

    def describe(self, variants: list[ProteinVariant]) -> list[DescribeFields]:
        """Generated: the right consequence and class, no gene or change (as from a prefix)."""
        labels = ["pathogenic" if v.alt_aa in "*WC" else "benign" for v in variants]
        return [DescribeFields("Missense variant", w, "a kinase", "dystonia") for w in labels]

    def explain_parts(self, variants: list[ProteinVariant]) -> list[tuple[str, str]]:
        facts = [f"Missense variant {v.hgvsp} in {v.gene}." for v in variants]
        return list(zip(facts, [d.text() for d in self.describe(variants)]))

    def explain(self, variants: list[ProteinVariant]) -> list[str]:
        return [f"{facts} {generated}" for facts, generated in self.explain_parts(variants)]

    def llm_alone_describe(self, variants: list[ProteinVariant], knowledge: bool = False) -> list[str]:
        return [f"This {v.gene} variant may be pathogenic." if knowledge else "A variant." for v in variants]

    def llm_alone_fields(
        self, variants: list[ProteinVariant], knowledge: bool = False
    ) -> list[DescribeFields]:
        return [
            DescribeFields("Missense variant", "pathogenic", "a protein", NO_PHENOTYPES) for _ in variants
        ]

    def phenotype_match(self, annotations: list, phenotypes: list[str]) -> np.ndarray:
        return np.zeros(len(annotations))

    def regulates(self, annotations: list, genes: list[str]) -> np.ndarray:
        positives = {("G1", 1251), ("G2", 7101)}  # (gene, element centre as a 1-based position)
        return np.array([0.9 if (g, a.allele.pos) in positives else 0.1 for a, g in zip(annotations, genes)])


def test_fake_engine_is_a_variant_engine() -> None:
    assert isinstance(FakeEngine(), VariantEngine)


class FakeBundle:
    dir = "fake"
    proteins: ClassVar[dict[str, str]] = {}

    class transcripts:
        @staticmethod
        def by_gene(gene: str) -> None:
            return None

    knowledge: ClassVar[dict[str, object]] = {}

    class genome:
        @staticmethod
        def resolve(chrom: str) -> None:
            return None

    def path(self, role: str) -> None:
        return None


@pytest.fixture()
def files(tmp_path: Path) -> dict[str, Path]:
    out = {}
    for name, text in (("labels.tsv", LABELS), ("pairs.tsv", PAIRS), ("abc.tsv", ABC)):
        (tmp_path / name).write_text(text)
        out[name] = tmp_path / name
    return out


def test_baselines_order_stop_missense_synonymous(files) -> None:
    labels = read_labels(files["labels.tsv"])
    by_change = {lv.variant.hgvsp: lv.variant for lv in labels}
    stop, missense, synonymous = by_change["p.Arg10Ter"], by_change["p.Trp20Cys"], by_change["p.Leu30Leu"]
    severity = baselines.severity_protein([stop, missense, synonymous])
    assert severity[0] > severity[1] > severity[2]
    # BLOSUM62 W->C is -2 (deleterious), I->V is +3 (conservative); Grantham W->C 215, I->V 29
    assert baselines.blosum_deleteriousness("W", "C") == 2.0
    assert baselines.blosum_deleteriousness("I", "V") == -3.0
    assert baselines.grantham_deleteriousness("W", "C") == 215.0
    assert baselines.grantham_deleteriousness("I", "V") == 29.0
    assert math.isnan(baselines.grantham_deleteriousness("R", "*"))


def test_evaluate_writes_tables_with_a_fake_engine(files, tmp_path: Path) -> None:
    out = tmp_path / "eval"
    opts = EvaluateOptions(
        out=out, tasks=("patho", "generate", "target"), variants=files["labels.tsv"], pairs=files["pairs.tsv"],
        abc=files["abc.tsv"], hpo_genes=None, data_dir=tmp_path / "none", split="test",
    )  # fmt: skip
    tables = {t.task: t for t in run_evaluate(opts, engine=FakeEngine(), bundle=FakeBundle())}
    patho = {r["method"]: r for r in tables["patho"].rows}
    assert patho["biblip"]["n"] == 6  # uncertain dropped
    assert patho["biblip"]["auroc"] == 1.0
    assert patho["LLM alone (variant in words)"]["auroc"] == 0.5
    assert patho["Grantham distance"]["auroc"] > 0.5
    generate = {r["method"]: r for r in tables["generate"].rows}
    ours = generate["biblip generated (prefix alone)"]
    assert ours["gene"] == 0.0 and ours["protein_change"] == 0.0  # a prefix alone names neither here
    assert ours["label"] == 1.0 and ours["consequence"] == pytest.approx(4 / 6)  # Ter and Leu30Leu missed
    assert generate["biblip --explain (looked up + generated)"]["gene"] == 1.0  # the looked-up part does
    assert generate["LLM alone (variant in words)"]["mean"] == 0.0
    assert generate["LLM + gene knowledge in words"]["gene"] == 1.0
    assert generate["LLM + gene knowledge in words"]["label"] == 0.5  # 3 of the 6 are pathogenic
    # "a kinase" is not supported by any knowledge (the fake bundle has none): every text has one error
    assert ours["error_rate"] == 1.0 and ours["unsupported"] == 1.0
    assert generate["LLM alone (variant in words), biblip's grammar"]["error_rate"] == 0.0
    assert math.isnan(tables["generate"].extra["relative_gain"])  # the LLM alone scored 0
    assert tables["generate"].extra["relative_gain_same_grammar"] > 0
    assert tables["generate"].extra["label_vs_knowledge"] == 0.5
    target = {r["method"]: r for r in tables["target"].rows}
    assert target["biblip regulates (model alone)"]["n_pairs"] == 5  # the invalid connection is dropped
    assert target["biblip regulates (model alone)"]["top1_accuracy"] == 1.0
    assert target["distance to TSS (inverse)"]["top1_accuracy"] == 0.5  # e2's nearest TSS is not its target
    assert target["ABC (powerlaw.Score)"]["auprc"] == 1.0
    for task in ("patho", "generate", "target"):
        assert (out / f"{task}.tsv").read_text().splitlines()[0].split("\t") == tables[task].columns
        payload = json.loads((out / f"{task}.json").read_text())
        assert payload["task"] == task and len(payload["rows"]) == len(tables[task].rows)
    summary = json.loads((out / "evaluate.json").read_text())
    assert summary["split_source"].startswith("checkpoint metadata")


def test_evaluate_no_model_has_baselines_only(files, tmp_path: Path) -> None:
    opts = EvaluateOptions(
        out=tmp_path / "e", tasks=("patho", "target"), variants=files["labels.tsv"], pairs=files["pairs.tsv"],
        split="all", no_model=True, data_dir=tmp_path / "none",
    )  # fmt: skip
    tables = {t.task: t for t in run_evaluate(opts, bundle=FakeBundle())}
    methods = [r["method"] for r in tables["patho"].rows]
    assert methods == ["consequence severity", "BLOSUM62 (-score)", "Grantham distance"]
    assert "ABC (powerlaw.Score)" not in [r["method"] for r in tables["target"].rows]
    assert len(read_pairs(files["pairs.tsv"])) == 5


def test_generated_fields_are_parsed() -> None:
    from biblip_cli.io.datasets import LabeledVariant

    lv = LabeledVariant(ProteinVariant("PANK2", "p.Arg264Trp", "R", 264, "W"), "pathogenic")
    text = "Missense variant R264W in PANK2 (pantothenate kinase 2). Likely pathogenic. Linked to dystonia."
    hits = field_hits(text, lv, ["Dystonia", "Spasticity"])
    assert hits == {"gene": 1.0, "consequence": 1.0, "protein_change": 1.0, "label": 1.0, "phenotype": 1.0}
    miss = field_hits("A benign change in PANK22.", lv, [])
    assert miss == {"gene": 0.0, "consequence": 0.0, "protein_change": 0.0, "label": 0.0, "phenotype": None}
    assert stated_label("Not clearly benign; likely pathogenic") == "benign"  # first word wins, as documented
    accuracy = generation_accuracy([text, "nothing"], [lv, lv], lambda g: ["Dystonia"])
    assert accuracy["gene"] == 0.5 and accuracy["mean"] == pytest.approx(0.5)


@pytest.fixture(scope="module")
def demo_bundle():
    from biblip_cli.bundle import Bundle

    return Bundle.open()


def _case_inputs(bundle, tmp_path: Path):
    from biblip_cli.features.consequence import protein_variant_to_alleles
    from biblip_cli.io.datasets import LabeledVariant

    labels = []
    for gene in ("PANK2", "AVP", "PRNP"):
        seq = bundle.proteins[gene]
        for position in range(20, 60):
            ref = seq[position - 1]
            for alt in "WRCP":
                pv = ProteinVariant(gene, f"p.{ref}{position}{alt}", ref, position, alt)
                if alt != ref and protein_variant_to_alleles(bundle, pv):
                    labels.append(LabeledVariant(pv, "pathogenic"))
    terms = {
        g: {f"HP:000{i}{j}": f"term {i}{j}" for j in range(5)} for i, g in enumerate(("PANK2", "AVP", "PRNP"))
    }
    background = tmp_path / "bg.vcf"
    background.write_text(
        "##fileformat=VCFv4.2\n##contig=<ID=chr20,length=64444167>\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"
        + "".join(f"chr20\t{100000 + 5000 * i}\trs{i}\tA\tG\t.\tPASS\t.\n" for i in range(40))
    )

    def alleles_of(pv: ProteinVariant):
        return protein_variant_to_alleles(bundle, pv)

    return labels, terms, background, alleles_of


def test_cases_are_reproducible_for_a_seed(demo_bundle, tmp_path: Path) -> None:
    labels, terms, background, alleles_of = _case_inputs(demo_bundle, tmp_path)
    kwargs = {
        "n_cases": 6,
        "proteins": demo_bundle.proteins,
        "n_decoys": 3,
        "splits": ("train", "val", "test"),
    }
    first = build_cases(labels, alleles_of, terms, background, tmp_path / "a", seed=5, **kwargs)
    build_cases(labels, alleles_of, terms, background, tmp_path / "b", seed=5, **kwargs)
    build_cases(labels, alleles_of, terms, background, tmp_path / "c", seed=6, **kwargs)
    assert len(first) == 6 and {c.gene for c in first} == {"PANK2", "AVP", "PRNP"}
    assert (tmp_path / "a" / "cases.tsv").read_text() == (tmp_path / "b" / "cases.tsv").read_text()
    assert (tmp_path / "a" / "case001.vcf").read_text() == (tmp_path / "b" / "case001.vcf").read_text()
    assert (tmp_path / "a" / "cases.tsv").read_text() != (tmp_path / "c" / "cases.tsv").read_text()
    for case in first:
        own = [t for t in case.terms if t in terms[case.gene]]
        assert 3 <= len(own) <= 5 and len(case.noise_terms) <= 2
        vcf_text = case.vcf.read_text()
        assert f"\t{case.causal.pos}\tcausal\t{case.causal.ref}\t{case.causal.alt}\t" in vcf_text
    reread = read_cases(tmp_path / "a")
    assert [(c.case_id, c.causal, c.terms) for c in reread] == [(c.case_id, c.causal, c.terms) for c in first]


class FakeOntology:
    """Similarity 1 for the gene whose terms were sampled, 0.1 otherwise."""

    def __init__(self, terms: dict[str, dict[str, str]]) -> None:
        self.terms = terms

    def phenotype_similarity(self, terms, gene: str) -> float:
        own = self.terms.get(gene, {})
        return 1.0 if any(t in own for t in terms) else 0.1


def test_rank_task_with_given_cases(demo_bundle, tmp_path: Path) -> None:
    labels, terms, background, alleles_of = _case_inputs(demo_bundle, tmp_path)
    build_cases(
        labels,
        alleles_of,
        terms,
        background,
        tmp_path / "cases",
        4,
        3,
        None,
        proteins=demo_bundle.proteins,
        n_decoys=3,
    )
    opts = EvaluateOptions(
        out=tmp_path / "out", tasks=("rank",), cases=tmp_path / "cases", no_model=True, seed=3
    )
    (table,) = run_evaluate(opts, bundle=demo_bundle, ontology=FakeOntology(terms))
    rows = {r["method"]: r for r in table.rows}
    exo = rows["Exomiser-like (HPO sim x deleteriousness)"]
    assert exo["n"] == 4 and exo["gene_top1"] == 1.0 and exo["allele_top5"] >= 0.75
    assert rows["random"]["allele_top1"] <= exo["allele_top1"]
    assert (tmp_path / "out" / "rank.tsv").is_file()


def test_per_gene_auroc_counts_only_genes_with_both_classes():
    from biblip_cli.evaluation.patho import per_gene_auroc

    y = np.array([1] * 5 + [0] * 5 + [1] * 5 + [0] * 4 + [1, 0], dtype=bool)
    genes = ["A"] * 10 + ["B"] * 9 + ["C", "C"]
    scores = np.r_[np.arange(10)[::-1], np.zeros(9), [1, 0]].astype(float)  # A perfect; B, C too few rows
    mean, n = per_gene_auroc(y, scores, genes)
    assert (mean, n) == (1.0, 1)
    assert np.isnan(per_gene_auroc(y[10:], scores[10:], genes[10:])[0])


def test_patho_predictions_file_and_gene_prior(tmp_path):
    from biblip_cli.evaluation.patho import PREDICTIONS_TSV, evaluate_pathogenicity
    from biblip_cli.io.datasets import LabeledVariant
    from biblip_cli.records import ProteinVariant

    rows = [
        LabeledVariant(ProteinVariant("G1", "p.Arg10Trp", "R", 10, "W"), "pathogenic"),
        LabeledVariant(ProteinVariant("G2", "p.Ala20Val", "A", 20, "V"), "benign"),
    ]
    table = evaluate_pathogenicity(rows, None, None, {}, {"G1": 4}, tmp_path)
    prior = next(r for r in table.rows if r["method"].startswith("gene prior"))
    assert prior["auroc"] == 1.0 and prior["n"] == 2
    lines = (tmp_path / PREDICTIONS_TSV).read_text().splitlines()
    assert lines[0].split("\t")[:4] == ["gene_symbol", "hgvs_p", "label", "gene prior (HPO diseases)"]
    assert lines[1].startswith("G1\tp.Arg10Trp\tpathogenic\t1.60944")


def test_simulated_backgrounds_carry_an_af_the_baseline_uses(demo_bundle, tmp_path: Path) -> None:
    """Common SNPs get a gnomAD_AF (case_vcfs.background_af), the causal allele none; the AF row of the rank
    task drops alleles above 2% from the Exomiser-like score and keeps the causal one."""
    from biblip_cli.evaluation.case_vcfs import AF_FIELD
    from biblip_cli.evaluation.ranking_task import EXO_AF, _frequency_weights, read_case_alleles

    labels, terms, background, alleles_of = _case_inputs(demo_bundle, tmp_path)
    (case,) = build_cases(labels, alleles_of, terms, background, tmp_path / "c", n_cases=1, seed=2,
                          proteins=demo_bundle.proteins, n_decoys=2, splits=("train", "val", "test"))  # fmt: skip
    text = case.vcf.read_text()
    assert f"##INFO=<ID={AF_FIELD},Number=A,Type=Float" in text
    alleles, _, afs = read_case_alleles(case)
    by_key = {(a.pos, a.alt): af for a, af in zip(alleles, afs, strict=True)}
    assert by_key[(case.causal.pos, case.causal.alt)] is None
    common = [af for a, af in zip(alleles, afs, strict=True) if a.pos % 5000 == 0]
    assert common and all(af is not None and 0.01 <= af <= 0.5 for af in common)
    weights = _frequency_weights([None, 0.0, 0.005, 0.03])
    assert weights[0] == weights[1] == 1.0 and 0.9 < weights[2] < 1.0 and weights[3] == 0.0
    opts = EvaluateOptions(out=tmp_path / "out", tasks=("rank",), cases=tmp_path / "c", no_model=True, seed=3)
    (table,) = run_evaluate(opts, bundle=demo_bundle, ontology=FakeOntology(terms))
    rows = {r["method"]: r for r in table.rows}
    assert rows[EXO_AF]["allele_top1"] >= rows["Exomiser-like (HPO sim x deleteriousness)"]["allele_top1"]
