"""Training examples: split rule, texts, Fulco exclusion and no label leakage into inputs."""

from __future__ import annotations

import gzip
from pathlib import Path
from types import SimpleNamespace

import pytest

from biblip_cli.bundle.knowledge import GeneKnowledge
from biblip_cli.records import ProteinVariant
from biblip_cli.training import example_set as es
from biblip_cli.training import examples as ex
from biblip_cli.training import instructions, splits

LABEL_HEADER = "gene_symbol uniprot_acc variant_id hgvs_p ref_aa position alt_aa label rsid disease_ids disease_names omim_ids"
CRISPR_HEADER = "chrom chromStart chromEnd name measuredGeneSymbol startTSS ValidConnection Regulated"


class _Transcripts:
    def __init__(self, chroms: dict[str, str]) -> None:
        self.chroms = chroms

    def by_gene(self, gene: str):
        chrom = self.chroms.get(gene)
        return SimpleNamespace(chrom=chrom) if chrom else None


class _Genome:
    def resolve(self, chrom: str):
        return None  # no sequence anywhere: element markers get ref = alt = N

    def fetch(self, chrom, start0, end0):  # pragma: no cover - resolve() is None
        raise AssertionError


def _bundle() -> SimpleNamespace:
    know = {
        "PANK2": GeneKnowledge(
            "PANK2", name="pantothenate kinase 2", hpo_terms=["Dystonia", "Dysarthria", "Rigidity", "Autosomal recessive inheritance"],
            diseases=["Neurodegeneration with brain iron accumulation 1 (NBIA1; MIM:234200): a disorder"], omim_ids=["606157"],
        ),
        "GENEB": GeneKnowledge("GENEB", name="gene b", hpo_terms=["Hearing loss", "Tinnitus", "Vertigo"]),
        "GENE21": GeneKnowledge("GENE21", name="a chr21 gene", hpo_terms=["Seizure", "Ataxia", "Tremor"]),
        "FULCO1": GeneKnowledge("FULCO1", name="fulco gene"),
        "ENHG": GeneKnowledge("ENHG", name="enhancer target"),
    }  # fmt: skip
    chroms = {"PANK2": "chr20", "GENEB": "chr1", "GENE21": "chr21", "FULCO1": "chr19", "ENHG": "chr3"}
    return SimpleNamespace(knowledge=know, transcripts=_Transcripts(chroms), proteins={}, genome=_Genome())


def _write(path: Path, header: str, rows: list[str]) -> Path:
    with gzip.open(path, "wt") as fh:
        fh.write(header.replace(" ", "\t") + "\n")
        for row in rows:
            fh.write(row.replace(" ", "\t").replace("_", " ") + "\n")
    return path


@pytest.fixture()
def example_set(tmp_path: Path) -> es.ExampleSet:
    labels = _write(
        tmp_path / "labels.tsv.gz",
        LABEL_HEADER,
        [
            "PANK2 Q9BZ23 VAR_1 p.Arg264Trp R 264 W pathogenic rs1 DI-00817 Neurodegeneration_with_brain_iron 234200",
            "PANK2 Q9BZ23 VAR_2 p.Gly126Ala G 126 A benign rs2   ",
            "PANK2 Q9BZ23 VAR_3 p.Ala10Val A 10 V uncertain rs3   ",
            "GENEB P1 VAR_4 p.Leu5Pro L 5 P pathogenic rs4 DI-99999 Deafness_99 999999",
            "GENE21 P2 VAR_5 p.Arg7Ter R 7 * pathogenic rs5 DI-77777 Epilepsy_77 777777",
        ],
    )
    crispr = _write(
        tmp_path / "crispr.tsv.gz",
        CRISPR_HEADER,
        [
            "chr3 1000 1500 e1 ENHG 50000 TRUE TRUE",
            "chr3 9000 9500 e2 ENHG 50000 TRUE FALSE",
            "chr19 100 600 e3 FULCO1 5000 TRUE TRUE",  # Fulco gene: excluded
            "chr3 20000 20500 e4 ENHG 50000 TRUE FALSE",  # overlaps a Fulco element: excluded
            "chr3 30000 30500 e5 ENHG 50000 promoter FALSE",  # not a valid connection
        ],
    )
    fulco = _write(
        tmp_path / "fulco.tsv.gz",
        CRISPR_HEADER,
        ["chr19 100 600 e3 FULCO1 5000 TRUE TRUE", "chr3 20400 20900 f2 OTHER 5000 FALSE FALSE"],
    )
    return ex.build_examples(_bundle(), labels, crispr, fulco)


def test_gene_split_is_fixed_and_proportional():
    assert splits.gene_split("PANK2", "chr20") == splits.gene_split(
        "PANK2", "20"
    )  # chrom naming does not matter
    assert splits.gene_hash_unit("PANK2") == pytest.approx(
        0.440591, abs=1e-6
    )  # sha1 rule, same on every machine
    assert all(splits.gene_split(f"G{i}", "chr21") == "test" for i in range(50))
    assert splits.gene_split("X", "chr22") == "test" and splits.gene_split("X", "chr10") == "val"
    drawn = [splits.gene_split(f"GENE{i}", "chr1") for i in range(20000)]
    assert drawn.count("train") / len(drawn) == pytest.approx(0.8, abs=0.01)
    assert drawn.count("val") / len(drawn) == pytest.approx(0.1, abs=0.01)


def test_leakage_guard_raises_not_asserts(example_set: es.ExampleSet):
    item = next(i for i in example_set.items if i.split == "train")
    leaked = es.VariantItem(key=item.key + "-copy", gene=item.gene, split="test")
    with pytest.raises(es.SplitLeakError, match="test genes also in train"):
        es.ExampleSet([*example_set.items, leaked], example_set.examples).check_disjoint()


def test_examples_kinds_splits_and_fulco_exclusion(example_set: es.ExampleSet):
    example_set.check_disjoint()
    by_gene = {e.item.gene: e.split for e in example_set.examples}
    assert by_gene["GENE21"] == "test"  # chr21: held out whole
    assert "FULCO1" not in by_gene
    assert example_set.excluded == {"crispr_fulco_gene": 1, "crispr_fulco_locus": 1}
    regulates = [e for e in example_set.examples if e.kind == "regulates"]
    assert sorted(e.answer for e in regulates) == [" no", " yes"]
    assert all(e.item.allele.ref == e.item.allele.alt == "N" for e in regulates)  # marker, no change
    assert regulates[0].item.allele.pos == 1251  # element midpoint, 1-based
    kinds = {(e.item.key, e.kind, e.answer) for e in example_set.examples}
    assert ("PANK2:p.Arg264Trp", "pathogenicity", " pathogenic") in kinds
    assert ("PANK2:p.Gly126Ala", "pathogenicity", " benign") in kinds
    assert not any(
        k == "PANK2:p.Ala10Val" and kind == "pathogenicity" for k, kind, _ in kinds
    )  # uncertain: no loss
    # uncertain: no describe answer either (the grammar states pathogenic or benign); the others have one
    assert ("PANK2:p.Ala10Val", "describe") not in {(k, kind) for k, kind, _ in kinds}
    described = {k: a for k, kind, a in kinds if kind == "describe"}
    assert (
        "likely pathogenic" in described["PANK2:p.Arg264Trp"]
        and "missense variant" in described["PANK2:p.Arg264Trp"].lower()
    )
    pheno = [e for e in example_set.examples if e.kind == "phenotype" and e.item.gene == "PANK2"]
    yes = [e for e in pheno if e.label == 1]
    assert len(yes) == 1 and "dystonia" in yes[0].instruction and "inheritance" not in yes[0].instruction
    no = [e for e in pheno if e.label == 0]
    assert len(no) == 2  # an unrelated gene's terms for the pathogenic one; its own terms for the benign one
    counts = example_set.counts()
    assert sum(counts[s]["pathogenicity"] for s in splits.SPLITS) == 4
    assert "| split |" in es.counts_table(counts)


def test_describe_text_is_short_and_complete():
    pv = ProteinVariant("PANK2", "p.Arg264Trp", "R", 264, "W")
    know = GeneKnowledge("PANK2", name="pantothenate kinase 2", hpo_terms=["Dystonia", "Rigidity"])
    text = instructions.describe_text(pv, "pathogenic", know)
    assert text == (
        "Missense variant p.Arg264Trp in PANK2 (pantothenate kinase 2). Likely pathogenic. "
        "Gene-linked phenotypes: dystonia, rigidity."
    )
    stop = instructions.describe_text(ProteinVariant("X", "p.Arg7Ter", "R", 7, "*"), "benign", None)
    assert stop == "Stop-gained variant p.Arg7Ter in X. Likely benign."
    assert len(text.split()) <= 30


def test_inputs_never_carry_the_label(example_set: es.ExampleSet):
    """Item fields and input texts hold no disease id, disease name or OMIM id of the variant row,
    and the inputs of a pathogenic and a benign variant of one gene differ only in the change."""
    bundle = _bundle()
    leaky = ["DI-00817", "234200", "Neurodegeneration with brain iron", "DI-99999", "Deafness 99", "999999",
             "DI-77777", "Epilepsy 77", "777777"]  # fmt: skip
    for item in example_set.items:
        fields = repr((item.key, item.gene, item.protein, item.allele))
        texts = " ".join(ex.input_texts(item, bundle.knowledge))
        for word in leaky:
            assert word not in fields
            if (
                word != "Neurodegeneration with brain iron"
            ):  # gene-level knowledge (PANK2's diseases) is allowed
                assert word not in texts
    items = {i.key: i for i in example_set.items}
    patho, benign = items["PANK2:p.Arg264Trp"], items["PANK2:p.Gly126Ala"]
    assert ex.input_texts(patho, bundle.knowledge) == ex.input_texts(benign, bundle.knowledge)
    assert "pathogenic" not in " ".join(ex.input_texts(patho, bundle.knowledge)).lower()
    assert set(ex.LEAKY_COLUMNS) == {"disease_ids", "disease_names", "omim_ids"}
