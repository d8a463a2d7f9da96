"""What `biblip annotate --no-model` imports: its start-up is most of a small job's wall time (docs/benchmarks.md),
so the spine must not pull in the model stack, pandas/pyranges (the gene model comes from its JSON cache) or
pydantic (Typer 0.29 imports it for every command; pyproject.toml keeps Typer below it)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

HEAVY = ("torch", "transformers", "pydantic", "pandas", "pyranges", "safetensors", "biblip_cli.model.weights")


def _imported(args: list[str], env: dict[str, str]) -> set[str]:
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "biblip_cli.cli", "-q", *args],
        capture_output=True, text=True, env=env, check=True,
    )  # fmt: skip
    return set(re.findall(r"^import time:\s+\d+ \|\s+\d+ \| *(\S+)$", done.stderr, flags=re.MULTILINE))


def test_spine_start_up_imports_no_model_stack(tmp_path: Path, resources: Path) -> None:
    env = {**os.environ, "BIBLIP_HOME": str(tmp_path / "home")}
    args = ["annotate", str(resources / "demo.vcf.gz"), "--no-model", "-o", str(tmp_path / "out.vcf")]
    _imported(args, env)  # the first run builds the gene-model cache (pyranges)
    modules = _imported(args, env)
    assert "biblip_cli.features.consequence_batch" in modules  # the spine itself ran
    assert (tmp_path / "out.vcf").stat().st_size > 0
    loaded = sorted(m for m in modules if m.split(".")[0] in HEAVY or m in HEAVY)
    assert not loaded, f"--no-model imported {loaded}"
