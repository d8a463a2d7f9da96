"""Pipeline-engine integration: the Nextflow module renders valid biblip command lines, and the Snakemake
scatter/gather gives the same records as one whole run.

Nextflow itself cannot be installed here, so its module is checked by rendering the `script:` and `stub:`
blocks the way Nextflow would (Groovy `${...}` interpolation of the known variables) and running the
resulting `biblip` command for real.
"""

from __future__ import annotations

import gzip
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
MODULES = REPO / "workflows" / "nextflow" / "modules" / "local" / "biblip"
BIBLIP = [sys.executable, "-m", "biblip_cli.cli"]


def _block(text: str, name: str) -> str:
    """The first triple-quoted string after `<name>:` in a process definition."""
    start = text.index(f"{name}:")
    body = text[start:]
    first = body.index('"""')
    second = body.index('"""', first + 3)
    return body[first + 3 : second]


def _render(template: str, values: dict[str, str]) -> str:
    """Groovy GString interpolation for the variables our modules use; `\\$` stays a shell `$`."""

    def substitute(match: re.Match[str]) -> str:
        key = match.group(1) or match.group(2)
        if key not in values:
            raise KeyError(f"module uses ${{{key}}}, which the test does not know")
        return values[key]

    text = re.sub(r"(?<!\\)\$\{([^}]+)\}|(?<!\\)\$([A-Za-z_][A-Za-z0-9_.]*)", substitute, template)
    return text.replace("\\$", "$").replace("\\\\\n", " ").replace("\\\n", " ")


def _biblip_command(rendered: str) -> list[str]:
    for line in rendered.splitlines():
        line = line.strip().removeprefix('echo "').split('" >')[0]
        if line.startswith("biblip "):
            return shlex.split(line)
    raise AssertionError("no biblip command in the rendered block")


@pytest.mark.parametrize("block", ["script", "stub"])
def test_nextflow_annotate_module_renders_a_valid_command(block, tmp_path, resources):
    text = (MODULES / "annotate" / "main.nf").read_text()
    assert "tuple val(meta), path(vcf)" in text and "versions.yml" in text and "stub:" in text
    assert "--threads ${task.cpus}" in text and "accelerator" in text and "task.ext.args" in text
    prefix = "demo.1of2"
    values = {
        "vcf": str(resources / "demo.vcf.gz"),
        "bundle": str(resources / "demo_bundle"),
        "model": str(resources / "model"),
        "task.cpus": "1",
        "shard": "--shard 1/2",
        "prefix": prefix,
        "args": "--no-model",
        "task.process": "BIBLIP_ANNOTATE",
    }
    argv = _biblip_command(_render(_block(text, block), values))
    assert argv[:2] == ["biblip", "annotate"]
    run = subprocess.run(BIBLIP + argv[1:], cwd=tmp_path, capture_output=True, text=True, check=False)
    assert run.returncode == 0, run.stderr
    with gzip.open(tmp_path / f"{prefix}.biblip.vcf.gz", "rt") as fh:
        assert any(line.startswith("##INFO=<ID=BIOBLIP,") for line in fh)
    assert (tmp_path / f"{prefix}.biblip.tsv").read_text().startswith("chrom\tpos\tref\talt")


def test_nextflow_rank_module_renders_a_valid_command(tmp_path, resources):
    text = (MODULES / "rank" / "main.nf").read_text()
    values = {
        "vcf": str(resources / "demo.vcf.gz"),
        "bundle": str(resources / "demo_bundle"),
        "model": str(resources / "model"),
        "task.cpus": "1",
        "prefix": "case1",
        "sample": "",
        "phenotypes": "HP:0001250,HP:0001263",
        "args": "--no-model",
        "task.process": "BIBLIP_RANK",
    }
    argv = _biblip_command(_render(_block(text, "stub"), values))
    run = subprocess.run(BIBLIP + argv[1:], cwd=tmp_path, capture_output=True, text=True, check=False)
    assert run.returncode == 0, run.stderr
    assert (tmp_path / "case1.rank.tsv").read_text().startswith("rank\t")


def _records(path: Path) -> list[str]:
    with gzip.open(path, "rt") as fh:
        return [line for line in fh if not line.startswith("#")]


@pytest.mark.skipif(shutil.which("snakemake") is None, reason="snakemake is not installed")
def test_snakemake_two_shards_equal_one_run(tmp_path, resources):
    out = tmp_path / "results"
    cmd = [
        "snakemake", "-s", str(REPO / "workflows" / "snakemake" / "Snakefile"), "-c", "2", "--quiet",
        "--directory", str(tmp_path), "--config", f"vcf={resources / 'demo.vcf.gz'}", "shards=2",
        f"outdir={out}", "extra=--no-model", "threads=1",
    ]  # fmt: skip
    run = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path, check=False)
    assert run.returncode == 0, run.stdout + run.stderr
    whole = tmp_path / "whole.vcf.gz"
    single = subprocess.run(  # noqa: PLW1510 - the test checks returncode
        BIBLIP
        + ["annotate", str(resources / "demo.vcf.gz"), "--no-model", "--output-type", "z", "-o", str(whole)],
        capture_output=True,
        text=True,
    )
    assert single.returncode == 0, single.stderr
    gathered = _records(out / "biblip.vcf.gz")
    assert len(gathered) > 100
    assert gathered == _records(whole)
