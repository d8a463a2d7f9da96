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
import gzip
import io
import logging
import os
import re
import shutil
import subprocess
import tempfile
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from biblip_cli.bundle.knowledge import iter_fasta, parse_protein_header
from biblip_cli.bundle.manifest import (
    FileEntry,
    Manifest,
    alternate_names,
    contig_aliases,
    write_manifest,
)
from biblip_cli.bundle.paralogs import find_paralogs, write_paralogs
from biblip_cli.errors import BiblipError, UsageError
from biblip_cli.io.textfiles import open_text, sha256_file

log = logging.getLogger(__name__)

LINE_WIDTH = 60
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


# --- writers -------------------------------------------------------------------------------------


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
                    name = raw[1:].split()[0] if raw[1:].strip() else ""
                    if not name:
                        raise BiblipError("FASTA header without a name", where=str(src))
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
                if region is not None:
                    lo, hi = region.start - 1, region.end
                    if start >= hi:
                        break  # past the region: nothing more to keep (contig names are unique)
                    if end > hi:
                        seq = seq[: hi - start]
                    if start < lo:
                        n_mask = min(lo - start, len(seq))
                        seq = "N" * n_mask + seq[n_mask:]
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

    When the GTF marks canonical transcripts (`tag "Ensembl_canonical"`, GENCODE), only those are
    kept: biblip's gene model is one canonical transcript per gene. Contig names are rewritten to
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
    kept = [r for r in rows if r[3] in keep_genes and (not canonical_tags or r[4] in ("canonical", ""))]
    if not kept:
        raise BiblipError(
            f"no genes in {region}" if region else "GTF has no features",
            where=str(src),
            hint="check --region and the contig names (chr20 vs 20)",
        )
    kept.sort(key=lambda r: (_contig_key(r[0]), r[1], r[2]))
    body = "\n".join([*header, *(r[5] for r in kept)]) + "\n"
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
    symbols = {names[g] for g in keep_genes}
    contigs = sorted({r[0] for r in kept}, key=_contig_key)
    return symbols, contigs, indexed


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


PROTEIN_ALPHABET = frozenset("ACDEFGHIKLMNPQRSTVWYUX*")
MIN_PROTEIN_LENGTH = 1  # an empty record is skipped; paralog search needs >= 20 (bundle/paralogs.py)


def read_protein_sources(srcs: list[Path]) -> dict[str, tuple[str, dict[str, str]]]:
    """Gene -> (sequence, header attributes) from several protein FASTA files, validated.

    Accepts biblip-style headers (`>PRNP transcript=...`, RefSeq `>AAAS NP_056480.1 tx=NM_...`) and UniProt
    ones (`>sp|P04156|... GN=PRNP ...`). One sequence per gene: within a file the first wins (UniProt lists
    reviewed entries first); across files the file given first wins, so list the translations of the
    bundle's own gene model (they match its CDS and the genome) before an external set such as RefSeq.
    A sequence with letters outside the amino-acid alphabet or empty is skipped with a
    warning; a terminal `*` is dropped.
    """
    merged: dict[str, tuple[str, dict[str, str]]] = {}
    for src in srcs:
        seen: set[str] = set()
        bad = 0
        for header, seq in iter_fasta(src):
            gene, attrs = parse_protein_header(header)
            m = re.search(r"\bGN=(\S+)", header)
            if m:
                gene = m.group(1)
                attrs = {"source": header.split()[0]}
            if not gene or gene in seen:
                continue
            seen.add(gene)
            seq = seq.upper().rstrip("*")
            if len(seq) < MIN_PROTEIN_LENGTH or not set(seq) <= PROTEIN_ALPHABET:
                bad += 1
                continue
            if gene not in merged:
                if len(header.split()) > 1 and "=" not in header.split()[1]:
                    attrs["accession"] = header.split()[1]
                merged[gene] = (seq, attrs)
        if bad:
            log.warning("%s: %d protein sequences skipped (empty or not amino acids)", src, bad)
    return merged


def write_proteins_subset(merged: dict[str, tuple[str, dict[str, str]]], dest: Path, genes: set[str]) -> int:
    """Protein FASTA of `genes` from `read_protein_sources`' result, headers normalised to
    `>SYMBOL key=value ...`; returns the number of genes written."""
    kept = [g for g in merged if g in genes]  # file order, first file first
    with gz_text_writer(dest) as out:
        for gene in kept:
            seq, attrs = merged[gene]
            extra = " ".join(f"{k}={v}" for k, v in attrs.items())
            out.write(f">{gene}{' ' + extra if extra else ''}\n")
            for i in range(0, len(seq), LINE_WIDTH):
                out.write(seq[i : i + LINE_WIDTH] + "\n")
    return len(kept)


def write_paralog_table(
    merged: dict[str, tuple[str, dict[str, str]]], dest: Path, genes: set[str], threads: int = 1
) -> int:
    """Paralogs of the bundle's proteins searched among *all* input proteins (`bundle/paralogs.py`)."""
    proteins = {g: seq for g, (seq, _attrs) in merged.items()}
    queries = [g for g in proteins if g in genes]
    step = max(len(queries) // 10, 1)

    def progress(done: int, total: int) -> None:
        if done % step == 0 or done == total:
            log.info("paralogs: %d/%d proteins aligned", done, total)

    table = find_paralogs(proteins, queries, threads=threads, progress=progress)
    return write_paralogs(table, dest)


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
) -> Manifest:
    """Make a bundle directory from `inputs`; return its manifest. See the module docstring.

    `inputs.proteins` may list several FASTA sources separated by commas (first wins per gene);
    `paralogs` aligns the bundle's proteins against all of them (`genes/paralogs.tsv.gz`)."""
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
        for rel in LAYOUT.values():
            (work / rel).parent.mkdir(parents=True, exist_ok=True)

        log.info("FASTA %s -> %s", src["fasta"], LAYOUT["fasta"])
        lengths = write_fasta_subset(src["fasta"], work / LAYOUT["fasta"], region)
        index_fasta(work / LAYOUT["fasta"])

        log.info("GTF %s -> %s", src["gtf"], LAYOUT["gtf"])
        genes, gtf_contigs, indexed = write_gtf_subset(
            src["gtf"], work / LAYOUT["gtf"], region, list(lengths)
        )
        all_proteins = read_protein_sources(protein_srcs)  # parsed once for the subset and the paralogs
        n_prot = write_proteins_subset(all_proteins, work / LAYOUT["proteins"], genes)
        n_par = 0
        if paralogs:
            n_par = write_paralog_table(all_proteins, work / LAYOUT["paralogs"], genes, threads=threads)
            log.info("%d paralog pairs", n_par)
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
        log.info(
            "%d genes, %d proteins, %d knowledge rows, %d gene-phenotype rows",
            len(genes),
            n_prot,
            n_know,
            n_g2p,
        )

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
                else {"fai": "fasta", "gzi": "fasta", "gtf_index": "gtf", "paralogs": "proteins"}.get(
                    role, role
                )
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
        shutil.rmtree(downloads)
        write_manifest(work, manifest)
        if out_dir.exists():
            shutil.rmtree(out_dir)
        work.rename(out_dir)
        for folder in [out_dir, *(p for p in out_dir.rglob("*") if p.is_dir())]:
            folder.chmod(0o755)  # mkdtemp made it private
        return manifest
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
