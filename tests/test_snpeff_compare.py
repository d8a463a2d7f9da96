"""A small SnpEff side-by-side (2,000 random SNVs): agreement >= 99%; skips without snpEff."""

from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.mark.slow  # ~30 s: builds a SnpEff database and starts the JVM
@pytest.mark.skipif(shutil.which("snpEff") is None, reason="snpEff not installed (Debian package snpeff)")
def test_snpeff_agreement_small(shared_data: Path, tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location("snpeff_compare", REPO / "benchmarks" / "snpeff_compare.py")
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    out = tmp_path / "result.json"
    rc = module.main(
        [
            "--n",
            "2000",
            "--workdir",
            str(tmp_path / "work"),
            "--ours",
            "function",
            "--json",
            str(out),
            "--repeat",
            "1",
        ]
    )
    assert rc == 0
    result = json.loads(out.read_text())
    assert result["pairs"] >= 2000
    assert result["agreement"] >= 0.99, result["disagreements"]
    assert result["snpeff_peak_rss_mib"] > 0 and result["ours_peak_rss_mib"] > 0
    assert result["snpeff_cpu_s"] > 0 and result["ours_cpu_s"] > 0


def test_most_severe_maps_snpeff_names() -> None:
    spec = importlib.util.spec_from_file_location("snpeff_compare", REPO / "benchmarks" / "snpeff_compare.py")
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    assert module.most_severe(["splice_region_variant", "intron_variant"]) == "splice_region_variant"
    assert module.most_severe(["intergenic_region"]) == "intergenic_variant"
    assert module.most_severe(["5_prime_UTR_premature_start_codon_gain_variant"]) == "5_prime_UTR_variant"
