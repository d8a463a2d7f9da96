"""`biblip evaluate --tasks cases` (evaluation/real_cases.py, real_case_vcfs.py) and the case reader
(io/case_records.py): one reader for TSV, zip and folder; the vectorised similarity equals the ontology's;
the tables put the causal gene / variant where the scores say."""

from __future__ import annotations

import gzip
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest

from biblip_cli.evaluation.real_case_vcfs import build_real_cases, sequence_check
from biblip_cli.evaluation.real_cases import (
    GenePhenotypeIndex,
    evaluate_gene_ranking,
    evaluate_protein_cases,
    protein_cases,
)
from biblip_cli.io.case_records import CaseRecord, CaseVariant, protein_variant, read_case_records
from biblip_cli.io.datasets import LabeledVariant
from biblip_cli.records import ProteinVariant

SHARED_CASES = Path(__file__).resolve().parents[2] / "shared" / "data" / "cases"
TSV_HEADER = (
    "cohort\tfile\tcase_id\tdisease_id\tdisease_label\tgene\thgnc\tchrom\tpos\tref\talt\thgvs_c\thgvs_p\t"
    "zygosity\tacmg\tn_variants_in_case\thpo_present\thpo_excluded\tsex\n"
)


def _packet(case_id: str, gene: str, observed: list[str], excluded: list[str], hgvs_p: str) -> dict:
    return {
        "id": case_id,
        "subject": {"id": "P1", "sex": "FEMALE"},
        "phenotypicFeatures": [{"type": {"id": t}} for t in observed]
        + [{"type": {"id": t}, "excluded": True} for t in excluded],
        "interpretations": [
            {
                "diagnosis": {
                    "disease": {"id": "OMIM:1"},
                    "genomicInterpretations": [
                        {
                            "variantInterpretation": {
                                "variationDescriptor": {
                                    "geneContext": {"symbol": gene},
                                    "expressions": [{"syntax": "hgvs.p", "value": f"NP_1.1:{hgvs_p}"}],
                                    "vcfRecord": {"chrom": "chr20", "pos": 4699605, "ref": "C", "alt": "T"},
                                    "allelicState": {"label": "heterozygous"},
                                }
                            }
                        }
                    ],
                }
            }
        ],
    }


@pytest.fixture(scope="module")
def ontology():
    from biblip_cli.bundle import Bundle
    from biblip_cli.features.phenotype import HpoOntology

    return HpoOntology.from_bundle(Bundle.open())


def test_tsv_zip_and_folder_give_the_same_cases(tmp_path: Path):
    packet = _packet("C1", "PRNP", ["HP:0001250", "HP:0001332"], ["HP:0000518"], "p.(Pro102Leu)")
    folder = tmp_path / "packets"
    folder.mkdir()
    (folder / "C1.json").write_text(json.dumps(packet))
    with zipfile.ZipFile(tmp_path / "p.zip", "w") as archive:
        archive.writestr("x/C1.json", json.dumps(packet))
    row = "c\tC1.json\tC1\tOMIM:1\td\tPRNP\t1\tchr20\t4699605\tC\tT\t\tNP_1.1:p.(Pro102Leu)\theterozygous\t\t1\t"
    row += "HP:0001250;HP:0001332\tHP:0000518\tFEMALE\n"
    with gzip.open(tmp_path / "c.tsv.gz", "wt") as fh:
        fh.write(TSV_HEADER + row)
    got = [read_case_records(p) for p in (folder, tmp_path / "p.zip", tmp_path / "c.tsv.gz")]
    assert got[0] == got[1] == got[2]
    (case,) = got[0]
    assert (case.gene, case.observed, case.excluded, case.sex) == (
        "PRNP",
        ["HP:0001250", "HP:0001332"],
        ["HP:0000518"],
        2,
    )
    assert protein_variant(case.variants[0]) == ProteinVariant("PRNP", "p.Pro102Leu", "P", 102, "L")
    assert protein_variant(CaseVariant("X", hgvs_p="p.(Glu461GlnfsTer48)")) is None


@pytest.mark.skipif(not (SHARED_CASES / "phenopackets.zip").is_file(), reason="needs ../shared/data/cases")
def test_shared_zip_and_tsv_agree_on_a_sample():
    from_tsv = {c.case_id: c for c in read_case_records(SHARED_CASES / "phenopackets.tsv.gz")}
    with zipfile.ZipFile(SHARED_CASES / "phenopackets.zip") as archive:
        names = sorted(n for n in archive.namelist() if n.endswith(".json"))[::500]
        packets = [json.loads(archive.read(n)) for n in names]
    from biblip_cli.io.case_records import _from_packet

    checked = 0
    for packet in packets:
        case = _from_packet(packet, "zip")
        if case is None or not case.gene or case.case_id not in from_tsv:
            continue
        other = from_tsv[case.case_id]
        assert (case.gene, sorted(case.observed), sorted(case.excluded)) == (
            other.gene, sorted(other.observed), sorted(other.excluded),
        )  # fmt: skip
        checked += 1
    assert checked >= 10


def test_vectorised_similarity_equals_the_ontology(ontology):
    index = GenePhenotypeIndex(ontology)
    assert len(index.genes) > 10
    for terms in (["HP:0001250"], ["HP:0001332", "HP:0001260", "HP:0000518"], ["HP:0000118"]):
        sims = index.similarity(terms)
        for gene in index.genes[:40]:
            assert sims[index.row[gene]] == pytest.approx(
                ontology.phenotype_similarity(terms, gene), abs=1e-12
            )


def test_gene_ranking_puts_a_gene_with_its_own_terms_first(ontology):
    index = GenePhenotypeIndex(ontology)
    gene = max(index.genes, key=lambda g: len(ontology.gene_term_ids(g)))
    own = sorted(f"HP:{i:07d}" for i in ontology.gene_term_ids(gene))[:8]
    cases = [CaseRecord("A", gene, own, []), CaseRecord("B", "NOT_A_GENE", own, [])]
    table = evaluate_gene_ranking(cases, ontology, lambda g: "test")
    rows = {(r["method"], r["genes"]): r for r in table.rows}
    best = rows[("HPO similarity (biblip's default = Exomiser-like)", "all")]
    assert best["cases"] == 1 and best["median_rank"] <= 3
    assert rows[("random", "all")]["top1"] == pytest.approx(1 / len(index.genes))
    assert any("1 of 2 cases" in n for n in table.notes)


def test_protein_cases_measure_the_variant_signal(ontology):
    index = GenePhenotypeIndex(ontology)
    gene = max(index.genes, key=lambda g: len(ontology.gene_term_ids(g)))
    own = sorted(f"HP:{i:07d}" for i in ontology.gene_term_ids(gene))[:8]
    causal = ProteinVariant(gene, "p.Gly10Trp", "G", 10, "W")
    benign = [ProteinVariant(gene, f"p.Ala{p}Val", "A", p, "V") for p in (20, 30, 40)]
    others = [ProteinVariant(g, "p.Ala5Val", "A", 5, "V") for g in index.genes[:50] if g != gene]
    labels = [LabeledVariant(v, "benign") for v in benign + others]
    record = CaseRecord("A", gene, own, [], variants=[CaseVariant(gene, hgvs_p="p.Gly10Trp")])
    chosen, stats = protein_cases([record], {gene: "M" * 9 + "G" + "A" * 40})
    assert len(chosen) == 1 and stats["with_protein"] == 1

    def oracle(variants: list[ProteinVariant]) -> np.ndarray:
        return np.array([0.99 if v == causal else 0.05 for v in variants])

    table = evaluate_protein_cases(
        chosen, labels, ontology, {"oracle": oracle}, lambda g: "test", n_background=20
    )
    rows = {(r["method"], r["genes"]): r for r in table.rows}
    assert rows[("oracle", "all")]["top1"] == 1.0 and rows[("oracle", "all")]["beats_own_gene_benign"] == 1.0
    blind = rows[("phenotype only (variant-blind)", "all")]
    assert blind["beats_own_gene_benign"] == 0.0 and blind["top1"] < 1.0  # ties with its own gene's benign


def test_real_case_vcf_holds_the_causal_variant(tmp_path: Path):
    from biblip_cli.bundle import Bundle

    bundle = Bundle.open()
    background = tmp_path / "bg.vcf"
    background.write_text(
        "##fileformat=VCFv4.2\n##contig=<ID=chr20,length=64444167>\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"
        "chr20\t96130\trs1\tC\tT\t.\tPASS\t.\nchr20\t96200\trs2\tG\tA\t.\tPASS\t.\n"
    )
    inside = sequence_check(bundle)
    ref = bundle.genome.fetch("chr20", 4699604, 4699605)
    record = CaseRecord(
        "PMID_1:case 1",
        "PRNP",
        ["HP:0001332"],
        [],
        variants=[CaseVariant("PRNP", "chr20", 4699605, ref, "T" if ref != "T" else "C", "", "homozygous")],
    )
    outside = CaseRecord("far", "X", ["HP:0001332"], [], variants=[CaseVariant("X", "chr1", 1000, "A", "G")])
    cases = build_real_cases([record, outside], inside, background, [], tmp_path / "out", lambda g: "test")
    assert [c.case_id for c in cases] == ["PMID_1:case 1"]
    text = cases[0].vcf.read_text()
    assert "\tcausal1\t" in text and text.count("\n") > 5 and cases[0].genotype == "1/1"
    assert "gnomAD_AF=" in text  # the same background rows as simulated cases (case_vcfs.background_rows)
    assert cases[0].vcf.name == "PMID_1_case_1.vcf"


def test_cases_task_end_to_end_with_a_case_in_the_sequence(tmp_path: Path, ontology):
    """`evaluate --tasks cases --no-model`: the phenotype-only and protein tables, and a VCF-level table for a
    case whose variant lies in the demo bundle's sequence (the path the held-out region's cases take)."""
    from biblip_cli.bundle import Bundle
    from biblip_cli.evaluation.evaluate import EvaluateOptions, run_evaluate
    from biblip_cli.features.consequence import protein_variant_to_alleles

    bundle = Bundle.open()
    seq = bundle.proteins["PRNP"]
    causal = ProteinVariant("PRNP", f"p.X{102}Y", seq[101], 102, "L" if seq[101] != "L" else "V")
    (allele,) = protein_variant_to_alleles(bundle, causal)[:1]
    terms = sorted(f"HP:{i:07d}" for i in ontology.gene_term_ids("PRNP"))[:5]
    row = (f"c\tC1.json\tC1\tOMIM:1\td\tPRNP\t1\t{allele.chrom}\t{allele.pos}\t{allele.ref}\t{allele.alt}\t\t"
           f"NP_1.1:p.(Pro102Leu)\theterozygous\t\t1\t{';'.join(terms)}\t\tMALE\n")  # fmt: skip
    cases = tmp_path / "cases.tsv"
    cases.write_text(TSV_HEADER + row)
    labels = tmp_path / "labels.tsv"
    labels.write_text(
        "gene_symbol\thgvs_p\tref_aa\tposition\talt_aa\tlabel\n"
        + "".join(
            f"PRNP\tp.X{p}A\t{seq[p - 1]}\t{p}\tA\tbenign\n" for p in (20, 60, 150) if seq[p - 1] != "A"
        )
    )
    background = tmp_path / "bg.vcf"
    background.write_text(
        "##fileformat=VCFv4.2\n##contig=<ID=chr20,length=64444167>\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"
        + "".join(f"chr20\t{100000 + 5000 * i}\trs{i}\tA\tG\t.\tPASS\t.\n" for i in range(20))
    )
    opts = EvaluateOptions(
        out=tmp_path / "out", tasks=("cases",), phenopackets=cases, variants=labels, background=background,
        no_model=True,
    )  # fmt: skip
    tables = run_evaluate(opts, bundle=bundle, ontology=ontology)
    assert [t.task for t in tables] == ["cases_genes", "cases_variants", "cases_rank"]
    rank_rows = {r["method"]: r for r in tables[2].rows}
    assert rank_rows["Exomiser-like (HPO sim x deleteriousness)"]["n"] == 1
    assert (tmp_path / "out" / "cases_rank.tsv").is_file()
