"""UniProt protein changes placed on the genome and annotated back give the same HGVSp (>= 99%)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def script():
    spec = importlib.util.spec_from_file_location(
        "uniprot_crosscheck", REPO / "scripts" / "uniprot_crosscheck.py"
    )
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    sys.modules["uniprot_crosscheck"] = module  # dataclasses look their module up
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


@pytest.fixture(scope="module")
def raw_bundle(script, shared_data: Path):
    return script.default_bundle(shared_data)


def _check(res, vcf: Path) -> None:
    assert res.total >= 300 and res.derived >= 250
    assert res.rate >= 0.99, res.misses
    # every variant we could not place is explained: isoform differences or multi-base changes
    unplaced = [m for m in res.misses if not m[2].startswith("annotated")]
    assert len(unplaced) == res.total - res.derived
    assert all(why.startswith(("isoform", "needs more than one base")) for _, _, why in unplaced), unplaced
    lines = [ln for ln in vcf.read_text().splitlines() if not ln.startswith("#")]
    assert len(lines) >= res.derived
    assert all(ln.startswith("chr20\t") and "\tUNIPROT=" in ln for ln in lines)


def test_uniprot_crosscheck_function(script, raw_bundle, shared_data: Path, tmp_path: Path) -> None:
    vcf = tmp_path / "uniprot_snvs.vcf"
    res = script.crosscheck(raw_bundle, shared_data / "labels" / "protein_variants.tsv.gz", vcf)
    _check(res, vcf)


@pytest.mark.skipif(
    not (REPO / "resources" / "demo_bundle" / "manifest.json").is_file(), reason="demo bundle not built"
)
def test_uniprot_crosscheck_cli(script, raw_bundle, shared_data: Path, tmp_path: Path) -> None:
    """The same through `biblip annotate --no-model` on the demo bundle (the path users run)."""
    vcf = tmp_path / "uniprot_snvs.vcf"
    res = script.crosscheck(raw_bundle, shared_data / "labels" / "protein_variants.tsv.gz", vcf, use_cli=True)
    _check(res, vcf)
