"""Real patients' phenotype questions for training (issue 13, item 3): yes for the causal variant with the
patient's own terms, no for a hard-negative gene's variant with the same terms, splits kept by gene."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

from biblip_cli.io.case_records import CaseRecord, CaseVariant
from biblip_cli.training.phenopacket_examples import phenopacket_examples


class _Hpo:
    """Term k is `HP:000000k`, named `term k`, with information content k (higher = more specific)."""

    def resolve_terms_lenient(self, ids: list[str]) -> SimpleNamespace:
        return SimpleNamespace(terms=[SimpleNamespace(id=i) for i in ids if i != "HP:9999999"])

    def term_indices(self, terms: list) -> list[int]:
        return [int(t.id[3:]) for t in terms]

    def information_content(self, index: int) -> float:
        return float(index)

    def term(self, index: int) -> SimpleNamespace:
        return SimpleNamespace(name=f"Term {index}")


def _case(case_id: str, gene: str, hgvs_p: str, terms: list[int]) -> CaseRecord:
    return CaseRecord(
        case_id, gene, observed=[f"HP:{t:07d}" for t in terms], variants=[CaseVariant(gene, hgvs_p=hgvs_p)]
    )


SPLITS = {"A": "train", "B": "train", "C": "train", "D": "test", "E": "train"}


def test_yes_for_the_patient_no_for_the_most_similar_other_gene() -> None:
    cases = [
        _case("c1", "A", "p.Arg10His", [1, 2, 3, 4, 5]),
        _case("c2", "B", "p.(Gly5Ser)", [4, 5, 9]),  # shares 2 terms with c1
        _case("c3", "C", "p.Leu7Pro", [5, 8]),  # shares 1 term with c1
        _case("c4", "D", "p.Ala3Val", [1, 2, 3, 4, 5]),  # the most similar, but a test gene
        _case("c5", "E", "p.Glu4Ter", [1, 2]),  # not missense: no item
        _case("c6", "A", "p.Arg10His", []),  # no known term: skipped
    ]
    cases[5].observed = ["HP:9999999"]  # the fake HPO does not know it
    items, examples, counts = phenopacket_examples(cases, _Hpo(), SPLITS.__getitem__)
    assert counts["no_missense_or_terms"] == 2 and len(items) == counts["items"] == 4
    by_case = [(e.item.key, e.answer, e.label) for e in examples]
    assert by_case[0] == ("A:p.Arg10His", " yes", 1)
    assert by_case[1] == ("B:p.Gly5Ser", " no", 0)  # same split, most shared terms (D is test)
    assert "term 5, term 4, term 3" in examples[0].instruction  # the 3 most specific, lower-case
    assert examples[0].instruction == examples[1].instruction  # the same question of the negative
    for e in examples:  # a negative never crosses splits
        assert e.split == SPLITS[e.item.gene]
    test_rows = [e for e in examples if e.split == "test"]
    assert [e.answer for e in test_rows] == [" yes"]  # D has no other test gene: no negative
    assert counts["no_negative"] == 1


def test_shared_phenopackets(shared_data: Path) -> None:
    """On the shared cases with the demo bundle's HPO: thousands of questions, nearly balanced, no gene in
    two splits."""
    from biblip_cli.bundle import Bundle
    from biblip_cli.features.phenotype import HpoOntology
    from biblip_cli.io.case_records import read_case_records
    from biblip_cli.training.splits import gene_split

    hpo = HpoOntology.from_bundle(Bundle.open())
    cases = read_case_records(shared_data / "cases" / "phenopackets.tsv.gz")
    items, examples, counts = phenopacket_examples(cases, hpo, lambda g: gene_split(g, ""))
    yes = [e for e in examples if e.label == 1]
    no = [e for e in examples if e.label == 0]
    assert len(yes) > 3000 and 0.8 * len(yes) < len(no) <= len(yes)
    splits: dict[str, set[str]] = {}
    for item in items:
        splits.setdefault(item.gene, set()).add(item.split)
    assert all(len(s) == 1 for s in splits.values())
    assert counts["examples"] == len(examples)


def test_build_examples_takes_the_cases(tmp_path: Path) -> None:
    """`biblip train`'s example builder with a cases TSV (the shared file's columns) and the demo bundle's HPO."""
    import gzip

    from biblip_cli.bundle import Bundle
    from biblip_cli.training.examples import build_examples

    header = (
        "cohort\tfile\tcase_id\tdisease_id\tdisease_label\tgene\thgnc\tchrom\tpos\tref\talt\thgvs_c\thgvs_p\t"
        "zygosity\tacmg\tn_variants_in_case\thpo_present\thpo_excluded\tsex"
    )
    rows = [
        ("p1", "PRNP", "p.Pro102Leu", "HP:0002354;HP:0001300;HP:0002066"),
        ("p2", "AVP", "p.Cys59Tyr", "HP:0000873;HP:0002354"),
        ("p3", "PANK2", "p.Arg264Trp", "HP:0001300;HP:0002066;HP:0001263"),
    ]
    lines = [header] + [
        f"c\t{cid}.json\t{cid}\tOMIM:1\td\t{gene}\t\t\t\t\t\t\t{hgvs}\theterozygous\t\t1\t{terms}\t\tMALE"
        for cid, gene, hgvs, terms in rows
    ]
    path = tmp_path / "cases.tsv.gz"
    path.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode()))
    result = build_examples(Bundle.open(), None, phenopackets_path=path)
    asked = [e for e in result.examples if e.kind == "phenotype"]
    assert sum(e.label == 1 for e in asked) == 3
    assert {e.item.gene for e in asked} == {"PRNP", "AVP", "PANK2"}
    assert result.sources["phenopackets"]["examples"] == str(len(asked))
    avp = next(e for e in asked if e.item.gene == "AVP" and e.label == 1)
    assert "diabetes insipidus" in avp.instruction.lower()  # the patient's own terms, by name
