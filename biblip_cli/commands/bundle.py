"""`biblip bundle build|embed|validate|info`: one function per command, printing rich tables."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console
from rich.table import Table

from biblip_cli.bundle.build import BuildInputs, build_bundle
from biblip_cli.bundle.manifest import read_manifest
from biblip_cli.bundle.subsets import Region
from biblip_cli.bundle.summary import bundle_summary
from biblip_cli.bundle.validate import FAIL, OK, WARN, validate_bundle
from biblip_cli.errors import BiblipError, UsageError
from biblip_cli.io.locks import OutputLock
from biblip_cli.io.os_errors import os_error
from biblip_cli.io.outputs import check_directory

if TYPE_CHECKING:
    from biblip_cli.features.gene_texts import EmbedReport

log = logging.getLogger(__name__)

_STYLE = {OK: "green", WARN: "yellow", FAIL: "bold red"}


def _human(size: int) -> str:
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"


def parse_sha256_options(values: list[str]) -> dict[str, str]:
    """`--sha256 fasta=abc...` (repeatable) -> {"fasta": "abc..."}."""
    result: dict[str, str] = {}
    for value in values:
        role, sep, digest = value.partition("=")
        if not sep or len(digest.strip()) != 64:
            raise UsageError(
                f"bad --sha256 {value!r}", where="--sha256", hint="use ROLE=HEX64, e.g. fasta=80ac..."
            )
        result[role.strip()] = digest.strip()
    return result


def _check_bundle_output(out: Path, sources: list[str | None]) -> None:
    """Before any download or parsing: `-o` must be a folder name, and no local input may sit inside it
    (`--force` replaces the folder, which would delete that input)."""
    if out.exists() and not out.is_dir():
        raise UsageError(
            "-o is a file, not a bundle directory",
            where=str(out),
            hint="give a new folder name for the bundle",
        )
    out_real = os.path.realpath(out)
    for value in sources:
        for source in (value or "").split(","):
            source = source.strip()
            if not source or "://" in source:
                continue
            real = os.path.realpath(source)
            if real == out_real or real.startswith(out_real.rstrip(os.sep) + os.sep):
                raise UsageError(
                    f"the input {source} is inside the output directory",
                    where=str(out),
                    hint="building replaces that folder and would delete the input; choose another -o "
                    "or move the input out of it",
                )


def run_build(
    *,
    fasta: str,
    gtf: str,
    proteins: str,
    knowledge: str,
    hpo_dir: str | None,
    hpo_obo: str | None,
    hpo_genes: str | None,
    hpo_annotations: str | None,
    enhancers: str | None,
    region: str | None,
    name: str | None,
    build: str,
    out: Path,
    sha256: list[str],
    force: bool = False,
    console: Console | None = None,
    paralogs: bool = True,
    threads: int = 1,
    embed: bool = True,
    text_encoder_dir: Path | None = None,
    quiet: bool = False,
) -> int:
    """Build (and embed) a bundle; progress per stage on stderr (progress.py), none when `quiet`."""
    from biblip_cli.progress import StageProgress

    out = Path(out)
    _check_bundle_output(
        out, [fasta, gtf, proteins, knowledge, hpo_dir, hpo_obo, hpo_genes, hpo_annotations, enhancers]
    )
    inputs = BuildInputs.with_hpo_dir(
        hpo_dir,
        fasta=fasta,
        gtf=gtf,
        proteins=proteins,
        knowledge=knowledge,
        hpo_obo=hpo_obo,
        hpo_genes=hpo_genes,
        hpo_annotations=hpo_annotations,
        enhancers=enhancers,
    )
    inputs.sha256 = parse_sha256_options(sha256)
    if out.parent.is_dir():
        check_directory(out)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise os_error(err, out.parent, "create the output directory") from err
    units = {"paralogs": "proteins", "embedding": "texts"}  # genome, genes, proteins, tables: 0, then 1 step
    progress = StageProgress("bundle build", units, quiet=quiet)
    with OutputLock(out), progress:  # a second build into the same folder stops at once
        manifest = build_bundle(
            inputs,
            out,
            region=Region.parse(region) if region else None,
            name=name,
            build=build,
            force=force,
            paralogs=paralogs,
            threads=threads,
            progress=progress,
        )
        if embed:  # the gene texts' vectors, so that inference never embeds them (features/gene_texts.py)
            try:
                _embed(out, text_encoder_dir, progress=lambda done, total: progress("embedding", done, total))
            except (BiblipError, ImportError) as err:
                if text_encoder_dir is not None:  # asked for this encoder: its failure is the user's to see
                    raise
                found = err.one_line() if isinstance(err, BiblipError) else str(err)
                log.warning(
                    "bundle built without gene-text embeddings (%s); add them with `biblip bundle embed`",
                    found,
                )
            manifest = read_manifest(out)
    total = sum(e.size for e in manifest.files.values())
    (console or Console(stderr=True)).print(
        f"bundle [bold]{manifest.name}[/] written to {out} ({len(manifest.files)} files, {_human(total)}; "
        f"{manifest.description})"
    )
    return 0


def _embed(
    bundle_dir: Path,
    text_encoder_dir: Path | None,
    genes: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> EmbedReport:
    from biblip_cli.features.gene_texts import embed_bundle

    return embed_bundle(bundle_dir, text_encoder_dir, genes=genes, progress=progress)


def run_embed(
    bundle_dir: Path,
    text_encoder_dir: Path | None = None,
    *,
    genes: int | None = None,
    console: Console | None = None,
) -> int:
    """Add (or redo) the gene-text embeddings of an existing bundle; prints texts/s."""
    try:
        with OutputLock(Path(bundle_dir) / "manifest.json"):
            report = _embed(Path(bundle_dir), text_encoder_dir, genes)
    except OSError as err:
        raise os_error(err, bundle_dir, "write the embeddings") from err
    (console or Console(stderr=True)).print(
        f"{report.texts:,} gene texts of {report.genes:,} genes in {report.path} ({_human(report.size)}); "
        f"{report.embedded:,} embedded in {report.seconds:.1f} s ({report.texts_per_second:,.0f} texts/s)"
    )
    return 0


def run_validate(bundle_dir: Path, console: Console | None = None) -> int:
    """Print the checks; return 1 when any check FAILed, else 0."""
    console = console or Console()
    checks = validate_bundle(bundle_dir)
    table = Table(title=f"bundle validate {bundle_dir}", title_justify="left")
    table.add_column("check")
    table.add_column("status")
    table.add_column("detail", overflow="fold")
    for check in checks:
        table.add_row(check.name, f"[{_STYLE[check.status]}]{check.status}[/]", check.detail)
    console.print(table)
    failed = [c for c in checks if c.status == FAIL]
    warned = [c for c in checks if c.status == WARN]
    if failed:
        console.print(
            f"[bold red]FAIL[/]: {len(failed)} check(s) failed: {', '.join(c.name for c in failed)}"
        )
        return 1
    console.print(f"[green]bundle is valid[/] ({len(warned)} warning(s))")
    return 0


def run_info(bundle_dir: Path, console: Console | None = None) -> int:
    console = console or Console()
    s = bundle_summary(bundle_dir)
    table = Table(title=f"bundle info {bundle_dir}", title_justify="left", show_header=False)
    table.add_column("field", style="bold")
    table.add_column("value", overflow="fold")
    table.add_row("name", s["name"])
    table.add_row("build", s["build"])
    table.add_row("regions", ", ".join(s["regions"]) or "whole genome")
    table.add_row("created", s["created"])
    table.add_row("contigs (sequence)", ", ".join(f"{c} {n:,} bp" for c, n in s["contigs"].items()))
    table.add_row("contigs (genes)", ", ".join(f"{c} ({n})" for c, n in s["gene_contigs"].items()))
    table.add_row("contig aliases", ", ".join(f"{a}->{t}" for a, t in list(s["aliases"].items())[:8]))
    table.add_row("genes", f"{s['genes']:,} ({s['coding']:,} coding)")
    table.add_row("proteins", f"{s['proteins']:,}")
    table.add_row("knowledge rows", f"{s['knowledge']:,}")
    table.add_row(
        "HPO", f"{s['hpo_release']} ({s['hpo_terms']:,} terms, {s['hpo_gene_rows']:,} gene-phenotype rows)"
    )
    table.add_row(
        "enhancer-gene pairs", "none" if s["enhancer_pairs"] is None else f"{s['enhancer_pairs']:,}"
    )
    console.print(table)
    files = Table(title="files", title_justify="left")
    for col in ("role", "path", "size", "sha256", "source"):
        files.add_column(col, overflow="fold")
    total = 0
    for role, (path, size, digest, source, _version) in s["files"].items():
        total += size
        files.add_row(role, path, _human(size), digest[:12], source)
    files.add_row("total", "", _human(total), "", "")
    console.print(files)
    return 0
