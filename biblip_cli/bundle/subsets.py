"""The bundle's files written from the inputs, each cut to the region: FASTA, GTF, tables, enhancers.

`Region` lives here because every writer takes one; `build.py` calls the writers in order.
"""

from __future__ import annotations

import gzip
import io
import logging
import re
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from biblip_cli.bundle.manifest import alternate_names, contig_aliases
from biblip_cli.errors import BiblipError, UsageError
from biblip_cli.io.textfiles import open_text

log = logging.getLogger(__name__)

LINE_WIDTH = 60


@dataclass
class Region:
    """A 1-based inclusive genomic interval (as typed by users: `chr20:1-10000000`)."""

    contig: str
    start: int
    end: int

    @classmethod
    def parse(cls, text: str) -> Region:
        m = re.fullmatch(r"\s*([^:\s]+):([\d,]+)-([\d,]+)\s*", text)
        if not m:
            m2 = re.fullmatch(r"\s*([^:\s]+)\s*", text)
            if m2:
                return cls(m2.group(1), 1, 10**12)
            raise UsageError(
                f"bad region {text!r}", where="--region", hint="use CONTIG:START-END, e.g. chr20:1-10000000"
            )
        start, end = int(m.group(2).replace(",", "")), int(m.group(3).replace(",", ""))
        if start < 1 or end < start:
            raise UsageError(
                f"bad region {text!r}: need 1 <= START <= END", where="--region", hint="e.g. chr20:1-10000000"
            )
        return cls(m.group(1), start, end)

    def __str__(self) -> str:
        return f"{self.contig}:{self.start}-{self.end}"

    def overlaps(self, contig: str, start: int, end: int) -> bool:
        return contig == self.contig and start <= self.end and end >= self.start


class _BgzipOut:
    """Write bytes bgzip-compressed: through the `bgzip` binary when present, else Bio.bgzf."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._proc = None
        self._fh = None
        if shutil.which("bgzip"):
            self._out = open(path, "wb")  # noqa: SIM115
            self._proc = subprocess.Popen(["bgzip", "-c"], stdin=subprocess.PIPE, stdout=self._out)
        else:
            from Bio import bgzf

            self._fh = bgzf.BgzfWriter(str(path), "wb")

    def write(self, data: bytes) -> None:
        if self._proc is not None:
            self._proc.stdin.write(data)  # type: ignore[union-attr]
        else:
            self._fh.write(data)  # type: ignore[union-attr]

    def close(self) -> None:
        if self._proc is not None:
            self._proc.stdin.close()  # type: ignore[union-attr]
            rc = self._proc.wait()
            self._out.close()
            if rc:
                raise BiblipError(f"bgzip failed with exit code {rc}", where=str(self.path))
        else:
            self._fh.close()  # type: ignore[union-attr]


def write_fasta_subset(src: Path, dest: Path, region: Region | None) -> dict[str, int]:
    """Stream a (gzipped) FASTA to a bgzip FASTA with 60-column lines; return contig lengths.

    With a region, only that contig is written, up to the region end; bases before the region
    start become N so that positions stay genomic.
    """
    out = _BgzipOut(dest)
    lengths: dict[str, int] = {}
    name: str | None = None
    keep = False
    pos = 0  # 0-based position of the next base of the current contig
    buf: list[str] = []
    buffered = 0

    def flush(final: bool = False) -> None:
        nonlocal buf, buffered
        text = "".join(buf)
        cut = len(text) if final else len(text) - len(text) % LINE_WIDTH
        lines = [text[i : i + LINE_WIDTH] for i in range(0, cut, LINE_WIDTH)]
        if lines:
            out.write(("\n".join(lines) + "\n").encode())
        rest = text[cut:]
        buf, buffered = ([rest] if rest else []), len(rest)

    def finish() -> None:
        if name is not None and keep:
            flush(final=True)
            lengths[name] = written[0]

    written = [0]
    try:
        with open_text(src) as fh:
            for raw in fh:
                if raw.startswith(">"):
                    finish()
                    name = _fasta_header_name(raw, src)
                    keep = region is None or name == region.contig or name in alternate_names(region.contig)
                    if keep and region is not None:
                        region.contig = name  # `--region 20:...` on a FASTA that says chr20
                    pos, written[0] = 0, 0
                    if keep:
                        if name in lengths:
                            raise BiblipError(
                                f"duplicate contig {name}", where=str(src), hint="contig names must be unique"
                            )
                        out.write(f">{name}\n".encode())
                    continue
                if name is None:
                    if raw.strip():
                        raise BiblipError("FASTA does not start with a '>' header", where=str(src))
                    continue
                if not keep:
                    continue
                seq = raw.strip()
                start, end = pos, pos + len(seq)
                pos = end
                clipped = _region_part(seq, start, end, region)
                if clipped is None:
                    break  # past the region: nothing more to keep (contig names are unique)
                seq = clipped
                buf.append(seq)
                buffered += len(seq)
                written[0] += len(seq)
                if buffered >= 1 << 16:
                    flush()
            finish()
    except (OSError, EOFError, UnicodeDecodeError) as err:
        raise BiblipError(
            f"cannot read FASTA ({err})", where=str(src), hint="is it a (b)gzip or plain FASTA?"
        ) from err
    finally:
        out.close()
    if not lengths:
        what = f"contig {region.contig}" if region else "any sequence"
        raise BiblipError(
            f"FASTA has no {what}", where=str(src), hint="check --region and the FASTA contig names"
        )
    return lengths


def _fasta_header_name(raw: str, src: Path) -> str:
    """The contig name of a `>` line (its first word); a header without one is an error."""
    name = raw[1:].split()[0] if raw[1:].strip() else ""
    if not name:
        raise BiblipError("FASTA header without a name", where=str(src))
    return name


def _region_part(seq: str, start: int, end: int, region: Region | None) -> str | None:
    """A FASTA line [start, end) cut at the region end, bases before its start as N; None past the region."""
    if region is not None:
        lo, hi = region.start - 1, region.end
        if start >= hi:
            return None
        if end > hi:
            seq = seq[: hi - start]
        if start < lo:
            n_mask = min(lo - start, len(seq))
            seq = "N" * n_mask + seq[n_mask:]
    return seq


def index_fasta(path: Path) -> None:
    """Write .fai and .gzi beside a bgzip FASTA (pyfaidx builds both)."""
    import pyfaidx

    fa = pyfaidx.Fasta(str(path), rebuild=True)
    fa.close()


_GENE_ID = re.compile(r'gene_id "([^"]*)"')
_GENE_NAME = re.compile(r'gene_name "([^"]*)"')
_TRANSCRIPT_ID = re.compile(r'transcript_id "([^"]*)"')


def write_gtf_subset(
    src: Path, dest: Path, region: Region | None, fasta_contigs: list[str] | None = None
) -> tuple[set[str], list[str], bool]:
    """Keep genes overlapping the region (all genes without one), sorted; bgzip + tabix when available.

    Every transcript is kept (GENCODE/Ensembl tags `Ensembl_canonical`, `MANE_Select` included): annotate
    reports each overlapping transcript, as VEP does, and `--pick`/`--canonical-only` choose among
    them (docs/output.md). Contig names are rewritten to
    the FASTA's spelling (`20` -> `chr20`) where they differ only by `chr` or `M`/`MT`. Returns (gene symbols,
    contigs, indexed?).
    """
    header: list[str] = []
    rows: list[tuple[str, int, int, str, str, str]] = []  # contig, start, end, gene key, transcript, line
    spans: dict[str, tuple[str, int, int]] = {}
    names: dict[str, str] = {}
    canonical_tags = False
    rename = contig_aliases(fasta_contigs or [])
    try:
        with open_text(src) as fh:
            for lineno, raw in enumerate(fh, start=1):
                if raw.startswith("#"):
                    header.append(raw.rstrip("\r\n"))
                    continue
                if not raw.strip():
                    continue
                line = raw.rstrip("\r\n")
                cols = line.split("\t")
                if len(cols) != 9:
                    raise BiblipError(
                        f"GTF line has {len(cols)} columns, expected 9", where=f"{src}:{lineno}"
                    )
                if cols[0] in rename:
                    cols[0] = rename[cols[0]]
                    line = "\t".join(cols)
                if region is not None and cols[0] != region.contig:
                    continue  # cheap skip before parsing attributes
                try:
                    start, end = int(cols[3]), int(cols[4])
                except ValueError as err:
                    raise BiblipError("GTF start/end is not a number", where=f"{src}:{lineno}") from err
                m = _GENE_ID.search(cols[8])
                if not m:
                    raise BiblipError("GTF line has no gene_id", where=f"{src}:{lineno}")
                gene = m.group(1)
                if gene not in names:
                    n = _GENE_NAME.search(cols[8])
                    names[gene] = n.group(1) if n else gene
                is_canonical = "Ensembl_canonical" in cols[8]
                canonical_tags = canonical_tags or is_canonical
                t = _TRANSCRIPT_ID.search(cols[8])
                keep_tx = (
                    "canonical" if is_canonical or '"canonical"' in cols[8] else (t.group(1) if t else "")
                )
                rows.append((cols[0], start, end, gene, keep_tx, line))
                span = spans.get(gene)
                spans[gene] = (
                    (cols[0], min(span[1], start), max(span[2], end)) if span else (cols[0], start, end)
                )
    except (OSError, EOFError, UnicodeDecodeError) as err:
        raise BiblipError(f"cannot read GTF ({err})", where=str(src), hint="is it a (gzipped) GTF?") from err
    keep_genes = {g for g, (c, lo, hi) in spans.items() if region is None or region.overlaps(c, lo, hi)}
    kept = [r for r in rows if r[3] in keep_genes]
    if canonical_tags:
        log.info(
            "GTF with Ensembl_canonical tags: every transcript kept (annotate --pick / --canonical-only)"
        )
    if not kept:
        raise BiblipError(
            f"no genes in {region}" if region else "GTF has no features",
            where=str(src),
            hint="check --region and the contig names (chr20 vs 20)",
        )
    kept.sort(key=lambda r: (_contig_key(r[0]), r[1], r[2]))
    body = "\n".join([*header, *(r[5] for r in kept)]) + "\n"
    indexed = _write_gtf(body, dest)
    symbols = {names[g] for g in keep_genes}
    contigs = sorted({r[0] for r in kept}, key=_contig_key)
    return symbols, contigs, indexed


def _write_gtf(body: str, dest: Path) -> bool:
    """Write the GTF text bgzipped with a tabix index when both tools exist, else gzip; True if indexed."""
    indexed = False
    if shutil.which("bgzip") and shutil.which("tabix"):
        out = _BgzipOut(dest)
        out.write(body.encode())
        out.close()
        rc = subprocess.run(
            ["tabix", "-f", "-p", "gff", str(dest)], check=False, capture_output=True, text=True
        )
        indexed = rc.returncode == 0
        if not indexed:
            log.warning("tabix failed on %s: %s", dest, rc.stderr.strip())
    else:
        with gz_text_writer(dest) as fh:
            fh.write(body)
    return indexed


def _contig_key(name: str) -> tuple[int, int, str]:
    core = name.removeprefix("chr")
    if core.isdigit():
        return (0, int(core), "")
    special = {"X": 1, "Y": 2, "M": 3, "MT": 3}
    return (1, special.get(core, 9), core)


@contextmanager
def gz_text_writer(path: Path) -> Iterator[io.TextIOWrapper]:
    """Text writer producing a reproducible gzip (no mtime or file name in the header)."""
    with (
        open(path, "wb") as raw,
        gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as gz,
        io.TextIOWrapper(gz, encoding="utf-8", newline="") as text,
    ):
        yield text


def write_table_subset(src: Path, dest: Path, column: str, keep: set[str] | None, comment: str = "#") -> int:
    """Copy a TSV (header line, optional `#` comment lines before it) keeping rows whose `column` is in `keep`."""
    count = 0
    with open_text(src) as fh, gz_text_writer(dest) as out:
        header: list[str] | None = None
        idx = -1
        for lineno, line in enumerate(fh, start=1):
            if header is None:
                if line.startswith(comment) and not line.lstrip(comment).startswith(column):
                    out.write(line)
                    continue
                header = line.rstrip("\r\n").lstrip(comment).split("\t")
                if column not in header:
                    raise BiblipError(f"no '{column}' column in the header", where=f"{src}:{lineno}")
                idx = header.index(column)
                out.write(line)
                continue
            if keep is not None:
                cols = line.rstrip("\r\n").split("\t")
                if len(cols) <= idx or cols[idx] not in keep:
                    continue
            out.write(line)
            count += 1
    return count


def write_enhancers_subset(src: Path, dest: Path, region: Region | None) -> int:
    """CRISPR enhancer-gene pairs (chrom, chromStart, chromEnd, ... measuredGeneSymbol ...) with elements in the region."""
    count = 0
    with open_text(src) as fh, gz_text_writer(dest) as out:
        head = fh.readline()
        cols = head.rstrip("\r\n").split("\t")
        if cols[:3] != ["chrom", "chromStart", "chromEnd"]:
            raise BiblipError(
                "enhancer table must start with chrom, chromStart, chromEnd columns",
                where=str(src),
                hint="see docs/bundle.md",
            )
        out.write(head)
        for line in fh:
            parts = line.split("\t", 3)
            if region is not None and not region.overlaps(parts[0], int(parts[1]) + 1, int(parts[2])):
                continue
            out.write(line)
            count += 1
    return count


def copy_gzipped(src: Path, dest: Path) -> None:
    """Copy as gzip (compressing plain files)."""
    with open(src, "rb") as fh:
        gz = fh.read(2) == b"\x1f\x8b"
    if gz:
        shutil.copyfile(src, dest)
    else:
        with (
            open(src, "rb") as fin,
            open(dest, "wb") as raw,
            gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as fout,
        ):
            shutil.copyfileobj(fin, fout)
