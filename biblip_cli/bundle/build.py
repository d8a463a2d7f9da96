"""Build a reference bundle from standard files (FASTA, GTF, protein FASTA, gene table, HPO).

Inputs are local paths or http(s) URLs (downloaded to a temporary file with a progress bar on
stderr, optionally checked against a sha256). With a region (`chr20:1-10000000`) the FASTA is
cut to that contig (positions before the region start become N, so file position = genome
position), the GTF keeps the genes overlapping the region, and proteins / knowledge / HPO
gene annotations keep only the genes of the written GTF. The bundle is written to a temporary
sibling directory and renamed at the end, so a failed build leaves nothing under the output name.
"""

from __future__ import annotations

import datetime as _dt
import logging
import os
import re
import shutil
import tempfile
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from biblip_cli.bundle.manifest import FileEntry, Manifest, contig_aliases, write_manifest
from biblip_cli.bundle.proteins import read_protein_sources, write_paralog_table, write_proteins_subset
from biblip_cli.bundle.subsets import (
    Region,
    copy_gzipped,
    index_fasta,
    write_enhancers_subset,
    write_fasta_subset,
    write_gtf_subset,
    write_table_subset,
)
from biblip_cli.errors import BiblipError, UsageError
from biblip_cli.io.textfiles import open_text, sha256_file

log = logging.getLogger(__name__)

HPO_NAMES = {
    "hpo_obo": ("hp.obo",),
    "hpo_genes": ("genes_to_phenotype.txt",),
    "hpo_annotations": ("phenotype.hpoa",),
}
#: where each role's file goes inside the bundle
LAYOUT = {
    "fasta": "genome/genome.fa.gz",
    "gtf": "genes/genes.gtf.gz",
    "proteins": "genes/proteins.fa.gz",
    "knowledge": "knowledge/genes.tsv.gz",
    "hpo_obo": "hpo/hp.obo.gz",
    "hpo_genes": "hpo/genes_to_phenotype.txt.gz",
    "hpo_annotations": "hpo/phenotype.hpoa.gz",
    "enhancers": "enhancers/enhancers.tsv.gz",
    "paralogs": "genes/paralogs.tsv.gz",
}


@dataclass
class BuildInputs:
    """What `build_bundle` reads; each value is a local path or an http(s) URL."""

    fasta: str
    gtf: str
    proteins: str
    knowledge: str
    hpo_obo: str
    hpo_genes: str
    hpo_annotations: str
    enhancers: str | None = None
    sha256: dict[str, str] = field(default_factory=dict)

    @classmethod
    def with_hpo_dir(cls, hpo_dir: str | None, **kwargs: str | None) -> BuildInputs:
        """Fill the three HPO roles from a folder holding hp.obo[.gz], genes_to_phenotype.txt[.gz], phenotype.hpoa[.gz]."""
        for role, names in HPO_NAMES.items():
            if kwargs.get(role):
                continue
            if not hpo_dir:
                raise UsageError(
                    f"no HPO file for {role}",
                    where="--hpo-dir",
                    hint="pass --hpo-dir DIR (with hp.obo[.gz] ...)",
                )
            found = None
            for name in names:
                for candidate in (Path(hpo_dir) / name, Path(hpo_dir) / f"{name}.gz"):
                    if candidate.is_file():
                        found = candidate
            if found is None:
                raise BiblipError(
                    f"{names[0]}[.gz] not found in the HPO folder",
                    where=str(hpo_dir),
                    hint="download it from https://hpo.jax.org/data/ontology and annotations",
                )
            kwargs[role] = str(found)
        return cls(**kwargs)  # type: ignore[arg-type]


def is_url(source: str) -> bool:
    return source.startswith(("http://", "https://"))


def fetch_input(source: str, workdir: Path, role: str, sha256: str | None = None) -> Path:
    """Local path as is, or download an http(s) URL into `workdir` (progress on stderr); check sha256."""
    if is_url(source):
        name = Path(urllib.request.urlparse(source).path).name or role
        dest = workdir / f"{role}-{name}"
        _download(source, dest)
        path = dest
    else:
        path = Path(source).expanduser()
        if not path.is_file():
            raise BiblipError(f"{role} input not found", where=str(path), hint="check the path")
    if sha256:
        actual = sha256_file(path)
        if actual.lower() != sha256.lower():
            raise BiblipError(
                f"sha256 mismatch for {role}: expected {sha256}, got {actual}",
                where=source,
                hint="the download is corrupt or the file changed upstream",
            )
    return path


def _download(url: str, dest: Path) -> None:
    from rich.console import Console
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn

    tmp = dest.with_suffix(dest.suffix + ".part")
    try:
        with urllib.request.urlopen(url, timeout=60) as resp, open(tmp, "wb") as out:
            total = int(resp.headers.get("Content-Length") or 0) or None
            with Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                DownloadColumn(),
                TransferSpeedColumn(),
                console=Console(stderr=True),
                transient=True,
            ) as progress:
                task = progress.add_task(f"download {dest.name}", total=total)
                while block := resp.read(1 << 20):
                    out.write(block)
                    progress.update(task, advance=len(block))
        tmp.replace(dest)
    except OSError as err:
        tmp.unlink(missing_ok=True)
        raise BiblipError(
            f"download failed ({err})", where=url, hint="check the URL and your connection"
        ) from err


def _first_match(path: Path, pattern: str, max_lines: int = 50) -> str:
    rx = re.compile(pattern)
    with open_text(path) as fh:
        for i, line in enumerate(fh):
            if i >= max_lines:
                break
            m = rx.search(line)
            if m:
                return m.group(1).strip()
    return ""


def _build_time() -> str:
    """UTC build time; `$SOURCE_DATE_EPOCH` makes rebuilds byte-identical."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    when = (
        _dt.datetime.fromtimestamp(int(epoch), _dt.timezone.utc)
        if epoch
        else _dt.datetime.now(_dt.timezone.utc)
    )
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


# --- the build -----------------------------------------------------------------------------------


def _fetch_inputs(inputs: BuildInputs, downloads: Path) -> tuple[dict[str, Path], dict[str, str], list[Path]]:
    """Each role's local file (URLs downloaded into `downloads`), its source as given, the protein sources in order."""
    src: dict[str, Path] = {}
    sources: dict[str, str] = {}
    for role in (
        "fasta",
        "gtf",
        "proteins",
        "knowledge",
        "hpo_obo",
        "hpo_genes",
        "hpo_annotations",
        "enhancers",
    ):
        value = getattr(inputs, role)
        if value and role == "proteins":
            protein_srcs = [
                fetch_input(v.strip(), downloads, f"proteins{i}", inputs.sha256.get("proteins"))
                for i, v in enumerate(value.split(","))
                if v.strip()
            ]
            src[role] = protein_srcs[0]
            sources[role] = value
        elif value:
            src[role] = fetch_input(value, downloads, role, inputs.sha256.get(role))
            sources[role] = value
    return src, sources, protein_srcs


def _manifest_files(
    work: Path, sources: dict[str, str], region: Region | None, indexed: bool
) -> dict[str, FileEntry]:
    """The manifest's file entries: every written file with its hash, source (or what it indexes) and version."""
    versions = {
        "fasta": "",
        "gtf": _first_match(work / LAYOUT["gtf"], r"^##(?:description|date|provider)[:\s]+(.*)"),
        "hpo_obo": _first_match(work / LAYOUT["hpo_obo"], r"^data-version:\s*(.*)"),
        "hpo_annotations": _first_match(work / LAYOUT["hpo_annotations"], r"^#version:\s*(.*)"),
    }
    versions["hpo_genes"] = versions["hpo_obo"]
    layout = dict(LAYOUT)
    layout["fai"] = LAYOUT["fasta"] + ".fai"
    layout["gzi"] = LAYOUT["fasta"] + ".gzi"
    if indexed:
        layout["gtf_index"] = LAYOUT["gtf"] + ".tbi"
    files: dict[str, FileEntry] = {}
    for role, rel in layout.items():
        path = work / rel
        if not path.is_file():
            continue
        origin = (
            role
            if role in sources
            else {"fai": "fasta", "gzi": "fasta", "gtf_index": "gtf", "paralogs": "proteins"}.get(role, role)
        )
        note = f" ({region})" if region and origin in ("fasta", "gtf", "enhancers") else ""
        files[role] = FileEntry(
            path=rel,
            sha256=sha256_file(path),
            source=(
                (sources.get(origin, "") + note)
                if role == origin
                else f"aligned from {sources.get(origin, '')}"
                if role == "paralogs"
                else f"index of {layout[origin]}"
            ),
            version=versions.get(role, ""),
            size=path.stat().st_size,
        )
    return files


def _write_tables(
    src: dict[str, Path], work: Path, genes: set[str], region: Region | None, filter_hpo: bool
) -> tuple[int, int, int | None]:
    """Knowledge, HPO and enhancer files of the bundle's genes/region: (knowledge rows, gene-phenotype rows,
    enhancer pairs or None without an enhancers input)."""
    n_know = write_table_subset(src["knowledge"], work / LAYOUT["knowledge"], "symbol", genes)
    copy_gzipped(src["hpo_obo"], work / LAYOUT["hpo_obo"])
    n_g2p = write_table_subset(
        src["hpo_genes"], work / LAYOUT["hpo_genes"], "gene_symbol", genes if filter_hpo else None
    )
    copy_gzipped(src["hpo_annotations"], work / LAYOUT["hpo_annotations"])
    n_enh = None
    if "enhancers" in src:
        n_enh = write_enhancers_subset(src["enhancers"], work / LAYOUT["enhancers"], region)
        if n_enh == 0:
            log.warning("no enhancer-gene pairs in %s: enhancers left out", region)
            (work / LAYOUT["enhancers"]).unlink()
    return n_know, n_g2p, n_enh


def _publish(work: Path, downloads: Path, out_dir: Path, manifest: Manifest) -> None:
    """Write the manifest and rename the finished work folder to `out_dir` (replacing it under --force)."""
    shutil.rmtree(downloads)
    write_manifest(work, manifest)
    if out_dir.exists():
        shutil.rmtree(out_dir)
    work.rename(out_dir)
    for folder in [out_dir, *(p for p in out_dir.rglob("*") if p.is_dir())]:
        folder.chmod(0o755)  # mkdtemp made it private


def build_bundle(
    inputs: BuildInputs,
    out_dir: Path,
    *,
    region: Region | None = None,
    name: str | None = None,
    build: str = "GRCh38",
    filter_hpo: bool | None = None,
    force: bool = False,
    paralogs: bool = True,
    threads: int = 1,
    progress: Callable[[str, int, int | None], None] | None = None,
) -> Manifest:
    """Make a bundle directory from `inputs`; return its manifest. See the module docstring.

    `inputs.proteins` may list several FASTA sources separated by commas (first wins per gene);
    `paralogs` aligns the bundle's proteins against all of them (`genes/paralogs.tsv.gz`).
    `progress(stage, done, total)`: each stage (genome, genes, proteins, tables: 0 then 1 file;
    paralogs: proteins aligned) as it starts and ends."""
    report = progress or (lambda _stage, _done, _total: None)
    from biblip_cli import __version__

    out_dir = Path(out_dir)
    if out_dir.exists() and any(out_dir.iterdir()) and not force:
        raise UsageError(
            "output directory exists and is not empty",
            where=str(out_dir),
            hint="choose a new -o or pass --force",
        )
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    filter_hpo = region is not None if filter_hpo is None else filter_hpo
    work = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.tmp-", dir=out_dir.parent))
    try:
        downloads = work / "_downloads"
        downloads.mkdir()
        src, sources, protein_srcs = _fetch_inputs(inputs, downloads)
        for rel in LAYOUT.values():
            (work / rel).parent.mkdir(parents=True, exist_ok=True)

        log.info("FASTA %s -> %s", src["fasta"], LAYOUT["fasta"])
        report("genome", 0, 1)
        lengths = write_fasta_subset(src["fasta"], work / LAYOUT["fasta"], region)
        index_fasta(work / LAYOUT["fasta"])
        report("genome", 1, 1)

        log.info("GTF %s -> %s", src["gtf"], LAYOUT["gtf"])
        report("genes", 0, 1)
        genes, gtf_contigs, indexed = write_gtf_subset(
            src["gtf"], work / LAYOUT["gtf"], region, list(lengths)
        )
        report("genes", 1, 1)
        report("proteins", 0, 1)
        all_proteins = read_protein_sources(protein_srcs)  # parsed once for the subset and the paralogs
        n_prot = write_proteins_subset(all_proteins, work / LAYOUT["proteins"], genes)
        report("proteins", 1, 1)
        n_par = 0
        if paralogs:
            n_par = write_paralog_table(
                all_proteins, work / LAYOUT["paralogs"], genes, threads=threads,
                progress=(lambda done, total: report("paralogs", done, total)) if progress else None,
            )  # fmt: skip
            log.info("%d paralog pairs", n_par)
        report("tables", 0, 1)
        n_know, n_g2p, n_enh = _write_tables(src, work, genes, region, filter_hpo)
        report("tables", 1, 1)
        log.info(
            "%d genes, %d proteins, %d knowledge rows, %d gene-phenotype rows",
            len(genes),
            n_prot,
            n_know,
            n_g2p,
        )

        files = _manifest_files(work, sources, region, indexed)
        all_contigs = list(lengths) + [c for c in gtf_contigs if c not in lengths]
        manifest = Manifest(
            name=name or (f"{build} {region}" if region else build),
            build=build,
            files=files,
            contig_aliases=contig_aliases(all_contigs),
            contigs=lengths,
            regions=[str(region)] if region else [],
            created=_build_time(),
            biblip_version=__version__,
            description=(
                f"{len(genes)} genes, {n_prot} proteins, {n_know} knowledge rows"
                + (f", {n_par} paralog pairs" if n_par else "")
                + (f", {n_enh} enhancer-gene pairs" if n_enh else "")
            ),
        )
        _publish(work, downloads, out_dir, manifest)
        return manifest
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
