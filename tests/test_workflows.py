"""Pipeline-engine integration: the Nextflow modules render valid biblip command lines and follow nf-core's
conventions, and the Snakemake scatter/gather gives the same records as one whole run, locally and as jobs on
a one-node SLURM cluster started by the test.

Nextflow itself cannot be installed here, so its modules are checked by rendering the `script:` and `stub:`
blocks the way Nextflow would (Groovy `${...}` interpolation of the known variables) and running the
resulting `biblip` command for real; `nf-core modules lint` runs where nf-core tools and Nextflow exist.
"""

from __future__ import annotations

import gzip
import hashlib
import importlib.util
import json
import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent
MODULES = REPO / "workflows" / "nextflow" / "modules" / "local" / "biblip"
SNAKEFILE = REPO / "workflows" / "snakemake" / "Snakefile"
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
    assert "tuple val(meta), path(vcf), val(shard)" in text and "topic: versions" in text and "stub:" in text
    assert "--threads ${task.cpus}" in text and "accelerator" in text and "task.ext.args" in text
    prefix = "demo.1of2"
    values = {
        "vcf": str(resources / "demo.vcf.gz"),
        "bundle": str(resources / "demo_bundle"),
        "model": str(resources / "model"),
        "task.cpus": "1",
        "shard_arg": "--shard 1/2",
        "prefix": prefix,
        "args": "--no-model",
    }
    argv = _biblip_command(_render(_block(text, block), values))
    assert argv[:2] == ["biblip", "annotate"]
    run = subprocess.run(BIBLIP + argv[1:], cwd=tmp_path, capture_output=True, text=True, check=False)
    assert run.returncode == 0, run.stderr
    with gzip.open(tmp_path / f"{prefix}.biblip.vcf.gz", "rt") as fh:
        assert any(line.startswith("##INFO=<ID=BIOBLIP,") for line in fh)
    assert (tmp_path / f"{prefix}.biblip.tsv").read_text().startswith("chrom\tpos\tref\talt")


NF_DATA = REPO / "workflows" / "nextflow" / "tests" / "data"


@pytest.mark.parametrize("block", ["script", "stub"])
def test_nextflow_rank_module_takes_ped_and_phenopacket(block, tmp_path, resources):
    text = (MODULES / "rank" / "main.nf").read_text()
    assert "tuple val(meta), path(vcf), path(ped), path(phenopacket), val(phenotypes)" in text
    assert "meta.sample" not in text
    values = {
        "vcf": str(resources / "demo.vcf.gz"),
        "bundle": str(resources / "demo_bundle"),
        "model": str(resources / "model"),
        "task.cpus": "1",
        "prefix": "case1",
        "phenotype_arg": "",
        "phenopacket_arg": f"--phenopacket {NF_DATA / 'demo.phenopacket.json'}",
        "ped_arg": f"--ped {NF_DATA / 'demo.ped'}",
        "args": "--no-model",
    }
    argv = _biblip_command(_render(_block(text, block), values))
    assert "--ped" in argv and "--phenopacket" in argv
    run = subprocess.run(BIBLIP + argv[1:], cwd=tmp_path, capture_output=True, text=True, check=False)
    assert run.returncode == 0, run.stderr
    assert (tmp_path / "case1.rank.tsv").read_text().startswith("rank\t")
    assert (tmp_path / "case1.genes.tsv").read_text().startswith("rank\t")


def test_nextflow_target_module_renders_a_valid_command(tmp_path, resources):
    text = (MODULES / "target" / "main.nf").read_text()
    values = {
        "vcf": str(resources / "demo.vcf.gz"),
        "bundle": str(resources / "demo_bundle"),
        "model": str(resources / "model"),
        "prefix": "demo",
        "args": "--no-model --top 3",
    }
    argv = _biblip_command(_render(_block(text, "script"), values))
    run = subprocess.run(BIBLIP + argv[1:], cwd=tmp_path, capture_output=True, text=True, check=False)
    assert run.returncode == 0, run.stderr
    with gzip.open(tmp_path / "demo.target.vcf.gz", "rt") as fh:
        assert any(line.startswith("##INFO=<ID=BIOBLIP_TARGET,") for line in fh)


# --- nf-core conventions ------------------------------------------------------------------------------------

NF_MODULES = ["annotate", "rank", "target"]


def _nf_inputs(text: str) -> list[list[str]]:
    """Names in each `input:` line of a process: `tuple val(meta), path(vcf)` -> ['meta', 'vcf']; `path bundle`."""
    block = text.split("input:", 1)[1].split("output:", 1)[0]
    lines = [line.split("//")[0].strip() for line in block.splitlines()]
    return [
        re.findall(r"(?:val|path)[( ](\w+)", line)
        for line in lines
        if re.match(r"(?:tuple|val|path)\b", line)
    ]


def _nf_emits(text: str) -> list[str]:
    block = text.split("output:", 1)[1].split("when:", 1)[0]
    return re.findall(r"emit:\s*(\w+)", block)


def _md5_as_nf_test(path: Path) -> str:
    """nf-test's snapshot md5: of the decompressed content for .gz files."""
    data = gzip.decompress(path.read_bytes()) if path.name.endswith(".gz") else path.read_bytes()
    return hashlib.md5(data).hexdigest()


def _stub_outputs(module: str, tmp_path: Path, resources: Path) -> dict[str, str]:
    """Run a module's stub block in bash (the way Nextflow would with -stub) and md5 what it wrote."""
    text = (MODULES / module / "main.nf").read_text()
    values = {
        "vcf": "demo.vcf.gz", "bundle": "demo_bundle", "model": "model", "task.cpus": "1", "args": "",
        "shard_arg": "--shard 1/2", "prefix": {"annotate": "demo.1of2", "rank": "case1", "target": "demo"}[module],
        "phenotype_arg": "--phenotype HP:0001250,HP:0001263", "phenopacket_arg": "", "ped_arg": "--ped demo.ped",
    }  # fmt: skip
    script = _render(_block(text, "stub"), values)
    run = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script], cwd=tmp_path, capture_output=True, text=True, check=False
    )
    assert run.returncode == 0, run.stderr
    return {
        p.name: _md5_as_nf_test(p) for p in sorted(tmp_path.iterdir()) if not p.name.endswith(".command.txt")
    }


@pytest.mark.parametrize("module", NF_MODULES)
def test_nf_core_module_conventions(module, tmp_path, resources):
    """What `nf-core modules lint` checks, for machines without nf-core tools and Nextflow."""
    folder = MODULES / module
    text = (folder / "main.nf").read_text()
    meta = yaml.safe_load((folder / "meta.yml").read_text())
    env = yaml.safe_load((folder / "environment.yml").read_text())

    # container and conda: an image defined in the repo, an environment beside the module
    container = re.search(r'^\s*container\s+"([^"]+)"', text, re.MULTILINE)
    assert container and container.group(1) == f"biblip:{_version()}"
    assert (REPO / "workflows" / "container" / "Dockerfile").is_file()
    assert (REPO / "workflows" / "container" / "biblip.def").is_file()
    assert 'conda "${moduleDir}/environment.yml"' in text
    assert env["channels"] == ["conda-forge", "bioconda"] and env["dependencies"]

    # standard meta keys only; versions on the topic channel, not a versions.yml
    assert set(re.findall(r"\bmeta\.(\w+)", text)) == {"id"}
    assert "versions.yml" not in text
    assert re.search(r"eval\(\"biblip --version[^)]*\"\), topic: versions, emit: versions_biblip", text)
    assert "stub:" in text and "when:" in text and "task.ext.prefix" in text

    # meta.yml fields present and in step with main.nf
    for key in (
        "name",
        "description",
        "keywords",
        "tools",
        "input",
        "output",
        "topics",
        "authors",
        "maintainers",
    ):
        assert meta.get(key), f"meta.yml lacks {key}"
    assert meta["name"] == f"biblip_{module}"
    assert list(meta["tools"][0]) == ["biblip"] and meta["tools"][0]["biblip"]["licence"] == ["MIT"]
    meta_inputs = [[next(iter(item)) for item in entry] if isinstance(entry, list) else [next(iter(entry))]
                   for entry in meta["input"]]  # fmt: skip
    assert meta_inputs == _nf_inputs(text)
    assert list(meta["output"]) == _nf_emits(text)
    assert "versions" in meta["topics"]

    # nf-test: a stub test with a snapshot that matches what the stub writes
    nf_test = (folder / "tests" / "main.nf.test").read_text()
    assert f'process "BIBLIP_{module.upper()}"' in nf_test and 'options "-stub"' in nf_test
    assert "snapshot(process.out).match()" in nf_test
    snap = json.loads((folder / "tests" / "main.nf.test.snap").read_text())
    (test_name,) = re.findall(r'test\("([^"]+)"\)', nf_test)
    (content,) = snap[test_name]["content"]
    files = _stub_outputs(module, tmp_path, resources)
    snapped = {}
    for emit in _nf_emits(text):
        for entry in content[emit]:
            for item in entry if isinstance(entry, list) else [entry]:
                if isinstance(item, str) and ":md5," in item:
                    name, md5 = item.split(":md5,")
                    snapped[name] = md5
    assert snapped == files
    assert content["versions_biblip"] == [[f"BIBLIP_{module.upper()}", "biblip", _version()]]


def _version() -> str:
    from biblip_cli import __version__

    return __version__


def _nf_core_usable() -> bool:
    if shutil.which("nf-core") is None or shutil.which("nextflow") is None:
        return False
    return subprocess.run(["nextflow", "-version"], capture_output=True, check=False).returncode == 0


@pytest.mark.skipif(not _nf_core_usable(), reason="nf-core tools or a working Nextflow launcher is missing")
@pytest.mark.parametrize("module", NF_MODULES)
def test_nf_core_modules_lint(module):
    run = subprocess.run(
        ["nf-core", "modules", "lint", f"biblip/{module}", "--dir", str(REPO / "workflows" / "nextflow")],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr


def _records(path: Path) -> list[str]:
    with gzip.open(path, "rt") as fh:
        return [line for line in fh if not line.startswith("#")]


@pytest.mark.skipif(shutil.which("snakemake") is None, reason="snakemake is not installed")
def test_snakemake_two_shards_equal_one_run(tmp_path, resources):
    out = tmp_path / "results"
    cmd = [
        "snakemake", "-s", str(SNAKEFILE), "-c", "2", "--quiet",
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


@pytest.mark.skipif(shutil.which("snakemake") is None, reason="snakemake is not installed")
def test_snakemake_lint_reports_nothing():
    run = subprocess.run(
        ["snakemake", "-s", str(SNAKEFILE), "--lint"], cwd=REPO, capture_output=True, text=True, check=False
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "Lints for" not in run.stdout + run.stderr


@pytest.mark.skipif(shutil.which("snakemake") is None, reason="snakemake is not installed")
def test_snakemake_documented_command_needs_no_config(tmp_path):
    """docs/scaling.md's first command, from the repository root, reads the shipped config.yaml (dry run)."""
    cmd = ["snakemake", "-s", "workflows/snakemake/Snakefile", "-c", "2", "-n", "--forceall"]
    run = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, check=False)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "workflows/snakemake/config.yaml" in run.stdout + run.stderr
    assert re.search(r"annotate_shard\s+4", run.stdout + run.stderr)  # shards: 4 in config.yaml


# --- a one-node SLURM cluster on localhost ----------------------------------------------------------------


@dataclass
class SlurmCluster:
    conf: Path
    jobcomp: Path
    env: dict[str, str]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _daemon(*names: str) -> list[str]:
    return [n for n in names if shutil.which(n) is None and not Path("/usr/sbin", n).exists()]


def _sbin(name: str) -> str:
    return shutil.which(name) or str(Path("/usr/sbin", name))


SLURM_CONF = """ClusterName=biblip-test
SlurmctldHost=localhost(127.0.0.1)
SlurmctldPort={ctld_port}
SlurmdPort={d_port}
AuthType=auth/munge
AuthInfo=socket={d}/munge.sock
CredType=cred/munge
SlurmUser={user}
SlurmdUser={user}
StateSaveLocation={d}/state
SlurmdSpoolDir={d}/spool
SlurmctldPidFile={d}/slurmctld.pid
SlurmdPidFile={d}/slurmd.pid
SlurmctldLogFile={d}/slurmctld.log
SlurmdLogFile={d}/slurmd.log
# No cgroups in containers: track processes by parent id, no task binding.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
MinJobAge=300
# No slurmdbd (it needs MySQL): finished jobs go to a text log, squeue shows them for MinJobAge seconds.
JobCompType=jobcomp/filetxt
JobCompLoc={d}/jobcomp.log
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
NodeName=localhost NodeAddr=127.0.0.1 CPUs={cpus} RealMemory={mem_mb} State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
"""


@pytest.fixture(scope="module")
def slurm_cluster():
    """munged + slurmctld + slurmd on localhost with a private slurm.conf; stopped (by pid) afterwards."""
    missing = _daemon("munged", "slurmctld", "slurmd") + [
        t for t in ("sbatch", "squeue", "srun") if not shutil.which(t)
    ]
    if missing:
        pytest.skip(f"SLURM not installed (missing {', '.join(missing)}; apt-get install slurm-wlm munge)")
    d = Path(tempfile.mkdtemp(prefix="biblip-slurm-", dir="/tmp"))  # short: the munge socket path is limited
    (d / "state").mkdir()
    (d / "spool").mkdir()
    key = d / "munge.key"
    key.write_bytes(os.urandom(1024))
    key.chmod(0o400)
    conf = d / "slurm.conf"
    mem_mb = int(int(Path("/proc/meminfo").read_text().split()[1]) / 1024 * 0.8)
    conf.write_text(SLURM_CONF.format(
        d=d, ctld_port=_free_port(), d_port=_free_port(), user=os.environ.get("USER") or "root",
        cpus=os.cpu_count() or 1, mem_mb=mem_mb,
    ))  # fmt: skip
    # snakemake-executor-plugin-slurm-jobstep drops SLURM_* variables (SLURM_CONF too) before its inner
    # `srun`; a real cluster has /etc/slurm/slurm.conf, this one gets an `srun` that knows its config.
    shim = d / "bin"
    shim.mkdir()
    (shim / "srun").write_text(f'#!/bin/sh\nSLURM_CONF={conf} exec {shutil.which("srun")} "$@"\n')
    (shim / "srun").chmod(0o755)
    env = {
        **os.environ,
        "SLURM_CONF": str(conf),
        "PATH": f"{shim}:{Path(sys.executable).parent}:{os.environ['PATH']}",
    }
    starts = [
        [_sbin("munged"), f"--socket={d}/munge.sock", f"--key-file={key}", f"--pid-file={d}/munged.pid",
         f"--log-file={d}/munged.log", f"--seed-file={d}/munge.seed", "--force"],
        [_sbin("slurmctld"), "-f", str(conf)],
        [_sbin("slurmd"), "-f", str(conf), "-N", "localhost"],
    ]  # fmt: skip
    try:
        for argv in starts:
            started = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
            if started.returncode != 0:
                pytest.skip(f"{Path(argv[0]).name} could not start here: {started.stderr.strip()[-300:]}")
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            state = subprocess.run(
                ["sinfo", "-h", "-o", "%T"], env=env, capture_output=True, text=True, check=False
            )
            if state.stdout.strip() == "idle":
                break
            time.sleep(0.5)
        else:
            logs = "".join(
                (d / f).read_text()[-300:] for f in ("slurmctld.log", "slurmd.log") if (d / f).exists()
            )
            pytest.skip(f"the SLURM node did not become idle in 30 s: {logs}")
        yield SlurmCluster(conf=conf, jobcomp=d / "jobcomp.log", env=env)
    finally:
        for name in ("slurmd", "slurmctld", "munged"):
            pid_file = d / f"{name}.pid"
            if pid_file.exists() and pid_file.read_text().strip():
                try:
                    os.kill(int(pid_file.read_text().strip()), 15)
                except ProcessLookupError:
                    pass
        time.sleep(0.5)
        shutil.rmtree(d, ignore_errors=True)


@pytest.mark.skipif(shutil.which("snakemake") is None, reason="snakemake is not installed")
@pytest.mark.skipif(
    importlib.util.find_spec("snakemake_executor_plugin_slurm") is None,
    reason="snakemake-executor-plugin-slurm is not installed (pip install snakemake-executor-plugin-slurm)",
)
def test_snakemake_on_slurm_equals_one_run(slurm_cluster, tmp_path, resources):
    """Three shards and the gather run as SLURM jobs; the gathered records equal one `biblip annotate` run."""
    out = tmp_path / "results"
    cmd = [
        "snakemake", "-s", str(SNAKEFILE), "--executor", "slurm", "-j", "4", "--directory", str(tmp_path),
        "--slurm-no-account", "--slurm-status-command", "squeue", "--slurm-init-seconds-before-status-checks", "1",
        "--default-resources", "slurm_partition=debug",
        "--config", f"vcf={resources / 'demo.vcf.gz'}", "shards=3", f"outdir={out}", "extra=--no-model",
        "threads=1", "mem_mb=500", "runtime=10",
    ]  # fmt: skip
    started = time.monotonic()
    run = subprocess.run(
        cmd, cwd=tmp_path, env=slurm_cluster.env, capture_output=True, text=True, timeout=300, check=False
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    elapsed = time.monotonic() - started

    whole = tmp_path / "whole.vcf.gz"
    single = subprocess.run(
        BIBLIP + ["annotate", str(resources / "demo.vcf.gz"), "--no-model", "-O", "z", "-o", str(whole)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert single.returncode == 0, single.stderr
    gathered = _records(out / "biblip.vcf.gz")
    assert len(gathered) > 100 and gathered == _records(whole)

    # The scheduler ran them: 3 annotate_shard jobs and 1 gather, all COMPLETED, each with the rule's resources.
    jobs = subprocess.run(
        ["squeue", "-h", "-t", "all", "-o", "%i|%T|%C|%m|%l|%M"],
        env=slurm_cluster.env,
        capture_output=True,
        text=True,
        check=False,
    ).stdout.split()
    completed = slurm_cluster.jobcomp.read_text().splitlines()
    assert len(jobs) == 4 and all(row.split("|")[1] == "COMPLETED" for row in jobs), jobs
    assert len(completed) == 4 and all("JobState=COMPLETED" in line for line in completed)
    assert sorted(row.split("|")[4] for row in jobs) == ["10:00", "10:00", "10:00", "30:00"]  # runtime
    summary = "\n".join(
        ["jobid|state|cpus|mem|time_limit|time", *sorted(jobs, key=lambda r: int(r.split("|")[0]))]
    )
    print(f"\nSLURM: {len(jobs)} jobs in {elapsed:.0f} s\n{summary}")
