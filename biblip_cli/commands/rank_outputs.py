"""`biblip rank`'s outputs: locks for the whole run, the run parameters, and every output written to its
temp file and committed together (none is left when one fails)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from biblip_cli.commands.rank_options import RankOptions
from biblip_cli.errors import BiblipError
from biblip_cli.ranking.candidates import RankResult
from biblip_cli.ranking.json_report import json_text
from biblip_cli.ranking.ranked_vcf import write_ranked_vcf
from biblip_cli.ranking.report import (
    GENE_COLUMNS,
    TSV_COLUMNS,
    gene_rows,
    ranked_rows,
    render_report,
    tsv_text,
)

log = logging.getLogger(__name__)


def as_unicode(text: str) -> str:
    """Text for JSON and HTML, which must be valid UTF-8: input bytes that were not UTF-8 (kept as surrogate
    escapes so the VCF and TSV pass them through unchanged, e.g. a Windows-1252 sample name) are read as
    Windows-1252 here, the usual source of such bytes."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        raw = text.encode("utf-8", "surrogateescape")
        out, i = [], 0
        while i < len(raw):  # valid UTF-8 runs stay as they are; each other byte is one cp1252 character
            try:
                out.append(raw[i:].decode("utf-8"))
                break
            except UnicodeDecodeError as err:
                out.append(raw[i : i + err.start].decode("utf-8"))
                out.append(raw[i + err.start : i + err.start + 1].decode("cp1252", "replace"))
                i += err.start + 1
        return "".join(out)


def lock_outputs(opts: RankOptions) -> list[Any]:
    """The output layer's lock on every regular-file output, held for the whole run."""
    from biblip_cli.io.locks import OutputLock
    from biblip_cli.io.output_paths import is_special, is_stdout

    locks: list[Any] = []
    try:
        for path in (opts.output, opts.tsv, opts.gene_tsv, opts.html, opts.json):
            if path is not None and not is_stdout(path) and not is_special(Path(str(path))):
                locks.append(OutputLock(path))
    except BaseException:
        for lock in locks:
            lock.release()
        raise
    return locks


def _knowledge(bundle: Any) -> Any:
    """The bundle's gene knowledge for the report's gene names and diseases; None when it has none."""
    try:
        return bundle.knowledge
    except (BiblipError, OSError) as err:
        log.info("report without gene knowledge: %s", err)
        return None


def run_params(opts: RankOptions, bundle: Any, proband: str | None) -> dict[str, str]:
    manifest = getattr(bundle, "manifest", None)
    bundle_dir = getattr(bundle, "dir", None)
    checksum = ""
    if bundle_dir is not None:
        from biblip_cli.bundle.manifest import MANIFEST_NAME
        from biblip_cli.io.textfiles import sha256_file

        path = Path(bundle_dir) / MANIFEST_NAME
        checksum = sha256_file(path) if path.is_file() else ""
    return {
        "input": opts.input or "",
        "proband": proband or "(no samples)",
        "ped": str(opts.ped or ""),
        "bundle": str(bundle_dir or ""),
        "bundle_name": str(getattr(manifest, "name", "") or ""),
        "bundle_build": str(getattr(manifest, "build", "") or ""),
        "bundle_manifest_sha256": checksum,
        "model": "none (--no-model: phenotype similarity x deleteriousness)"
        if opts.no_model
        else str(opts.model_dir or "default"),
        "shortlist": str(opts.shortlist),
        "phenotype_match": "off" if opts.no_model else ("on" if opts.phenotype_match else "off (default)"),
        "top": str(opts.top),
        "excluded_lr": f"{opts.excluded_lr:g}"
        + (" (excluded terms named, not scored)" if opts.excluded_lr >= 1 else ""),
        "command": opts.command,
    }


def filter_params(result: RankResult) -> dict[str, str]:
    settings, counts = result.filter_settings, result.filters
    return {
        "include_filtered": "yes" if settings.include_filtered else "no (PASS only)",
        "min_gq": str(settings.min_gq) if settings.min_gq > 0 else "off",
        "min_dp": str(settings.min_dp) if settings.min_dp > 0 else "off",
        "af_fields": ", ".join(counts.af_fields) or "none found",
        "max_af": settings.max_af_words() if counts.af_fields else "not applied (no AF field)",
    }


def write_outputs(result: RankResult, opts: RankOptions, source: str, ontology: Any, bundle: Any) -> None:
    """Every output is written to its temp file first and all are renamed into place only when every one
    is complete, so a failure in one (a bad record, a full disk) leaves none of them behind."""
    from biblip_cli.io.os_errors import StdoutClosed
    from biblip_cli.io.outputs import OutputFile, TextOutput

    table = tsv_text(TSV_COLUMNS, ranked_rows(result, opts.top))
    stdout_parts: list[str] = []
    files: list[tuple[Path | str, str]] = []
    if opts.tsv is not None:
        files.append((opts.tsv, table))
    elif opts.output != "-" and opts.json != "-":
        stdout_parts.append(table)
    if opts.gene_tsv is not None:
        files.append((opts.gene_tsv, tsv_text(GENE_COLUMNS, gene_rows(result))))
    if opts.html is not None:
        files.append((opts.html, as_unicode(render_report(result, opts.top, ontology, _knowledge(bundle)))))
    if opts.json is not None:
        text = as_unicode(json_text(result, opts.top))
        if opts.json == "-":
            stdout_parts.append(text)
        else:
            files.append((Path(opts.json), text))
    pending: list[Any] = []
    closed: StdoutClosed | None = None
    try:
        if opts.output:
            pending.append(write_ranked_vcf(result, source, opts.output, opts.output_type, opts.command,
                                            overwrite_info=opts.overwrite_info, lock=False))  # fmt: skip
        for path, text in files:
            out = TextOutput(path, lock=False)  # the run holds the locks (_lock_outputs)
            pending.append(out)
            out.write(text)
        try:
            for text in stdout_parts:
                stream = OutputFile("-")
                stream.write(text.encode("utf-8", "surrogateescape"))
                stream.commit()
        except StdoutClosed as err:  # `| head`: the files are still complete, keep them
            closed = err
        pending.sort(key=lambda out: out.file.temp is not None)  # devices/FIFOs first: they can still fail
        for out in pending:
            out.commit()
    except BaseException:
        for out in pending:
            out.abort()
        raise
    if closed is not None:
        raise closed
