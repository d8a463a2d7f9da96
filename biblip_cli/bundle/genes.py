"""The gene model: every transcript of the GTF (tags kept), indexed for per-allele queries.

Loaded once from a GENCODE-style GTF (pandas reader, the same frame pyranges builds) and turned into
plain `Transcript` objects plus per-contig bins and sorted TSS arrays, because queries run once per
allele on the hot path and must not touch pandas. Coordinates are 0-based half-open throughout.
"""

from __future__ import annotations

import bisect
import hashlib
import logging
from dataclasses import dataclass, field
from pathlib import Path

from biblip_cli.errors import BiblipError

log = logging.getLogger(__name__)

BIN = 100_000  # bin width of the overlap index (bp)
MAX_FLANK = 5_000  # widest flank the bins are built for (upstream/downstream window)
CACHE_FORMAT = 1  # bump when Transcript's fields change: old cache files are then ignored


@dataclass(eq=False)
class Transcript:
    """A transcript. `exons` are sorted by genomic start; CDS span includes the stop codon."""

    gene: str
    transcript_id: str
    chrom: str
    strand: str  # "+" or "-"
    biotype: str  # transcript_type
    gene_type: str
    start0: int
    end0: int
    exons: list[tuple[int, int]]
    cds_start0: int | None = None
    cds_end0: int | None = None
    gene_id: str = ""  # GTF gene_id (ENSG... in GENCODE/Ensembl; the symbol in our shared GTF)
    protein_id: str = ""  # GTF protein_id (ENSP...), empty when the GTF has none
    tags: frozenset[str] = frozenset()  # GTF `tag` values (Ensembl_canonical, MANE_Select, basic, ...)
    canonical: bool = False  # Ensembl_canonical / canonical tag (or the gene's only transcript, untagged GTF)
    _cache: dict = field(default_factory=dict, repr=False)

    @property
    def mane_select(self) -> bool:
        return "MANE_Select" in self.tags

    @property
    def coding(self) -> bool:
        return self.cds_start0 is not None

    @property
    def tss0(self) -> int:
        """0-based position of the first transcribed base."""
        return self.start0 if self.strand == "+" else self.end0 - 1

    @property
    def exon_count(self) -> int:
        return len(self.exons)

    @property
    def tx_exons(self) -> list[tuple[int, int]]:
        """Exons in transcript (5'->3') order."""
        return self.exons if self.strand == "+" else self.exons[::-1]

    def _offsets(self) -> list[int]:
        """Spliced-transcript offset (transcript orientation) of each exon's first base, genomic order."""
        got = self._cache.get("offsets")
        if got is None:
            got = [0] * len(self.exons)
            total = 0
            for i in range(len(self.exons)) if self.strand == "+" else range(len(self.exons) - 1, -1, -1):
                got[i] = total
                total += self.exons[i][1] - self.exons[i][0]
            self._cache["offsets"] = got
            self._cache["tx_length"] = total
        return got

    @property
    def tx_length(self) -> int:
        self._offsets()
        return self._cache["tx_length"]

    def bounds(self) -> tuple[list[int], list[int]]:
        """Exon starts and ends (genomic order, both ascending: exons never overlap), for bisection:
        per-allele queries cost O(log exons) instead of a walk over every exon."""
        got = self._cache.get("bounds")
        if got is None:
            got = self._cache["bounds"] = ([s for s, _ in self.exons], [e for _, e in self.exons])
        return got

    def exon_index(self, pos0: int) -> int | None:
        """Index (genomic order) of the exon holding `pos0`, or None if intronic/outside."""
        starts, ends = self.bounds()
        i = bisect.bisect_right(starts, pos0) - 1
        return i if i >= 0 and pos0 < ends[i] else None

    def intron_at(self, pos0: int) -> tuple[int, int] | None:
        """The intron holding `pos0` as (end of the exon before, start of the exon after), genomic order;
        None where `pos0` is exonic or outside the transcript."""
        starts, ends = self.bounds()
        i = bisect.bisect_right(starts, pos0) - 1
        if 0 <= i < len(starts) - 1 and ends[i] <= pos0 < starts[i + 1]:
            return ends[i], starts[i + 1]
        return None

    def exon_range(self, lo: int, hi: int) -> range:
        """Indexes of the exons that overlap `[lo, hi)`."""
        starts, ends = self.bounds()
        return range(bisect.bisect_right(ends, lo), bisect.bisect_left(starts, hi))

    def intron_range(self, lo: int, hi: int, margin: int) -> range:
        """Indexes of the introns (intron k lies between exons k and k+1) whose span widened by
        `margin` bp on both sides overlaps `[lo, hi)`."""
        starts, ends = self.bounds()
        first = max(bisect.bisect_right(starts, lo - margin) - 1, 0)
        return range(first, min(bisect.bisect_left(ends, hi + margin), len(starts) - 1))

    def tx_offset(self, pos0: int) -> int | None:
        """0-based offset of genomic `pos0` in the spliced transcript (5'->3'), None if not exonic."""
        i = self.exon_index(pos0)
        if i is None:
            return None
        s, e = self.exons[i]
        return self._offsets()[i] + (pos0 - s if self.strand == "+" else e - 1 - pos0)

    def genomic_of_offset(self, offset: int) -> int | None:
        """Inverse of `tx_offset`: genomic 0-based position of a spliced-transcript offset."""
        offsets = self._offsets()
        for i, (s, e) in enumerate(self.exons):
            if offsets[i] <= offset < offsets[i] + (e - s):
                d = offset - offsets[i]
                return s + d if self.strand == "+" else e - 1 - d
        return None

    @property
    def cds_tx_start(self) -> int | None:
        """Transcript offset of the first CDS base (the A of ATG)."""
        if self.cds_start0 is None or self.cds_end0 is None:
            return None
        got = self._cache.get("cds_tx_start")
        if got is None:
            got = self._cache["cds_tx_start"] = self.tx_offset(
                self.cds_start0 if self.strand == "+" else self.cds_end0 - 1
            )
        return got

    @property
    def cds_length(self) -> int:
        """Coding bases including the stop codon (0 for non-coding transcripts)."""
        if self.cds_start0 is None or self.cds_end0 is None:
            return 0
        got = self._cache.get("cds_length")
        if got is None:
            cs, ce = self.cds_start0, self.cds_end0
            got = self._cache["cds_length"] = sum(max(0, min(e, ce) - max(s, cs)) for s, e in self.exons)
        return got

    def cds_offset(self, pos0: int) -> int | None:
        """0-based CDS offset of genomic `pos0` (may be <0 in 5'UTR or >= cds_length in 3'UTR)."""
        off = self.tx_offset(pos0)
        start = self.cds_tx_start
        if off is None or start is None:
            return None
        return off - start

    def cds_segments(self) -> list[tuple[int, int]]:
        """Genomic CDS pieces in transcript order (for fetching and reverse-complementing)."""
        if self.cds_start0 is None or self.cds_end0 is None:
            return []
        pieces = [
            (max(s, self.cds_start0), min(e, self.cds_end0))
            for s, e in self.exons
            if min(e, self.cds_end0) > max(s, self.cds_start0)
        ]
        return pieces if self.strand == "+" else pieces[::-1]


_FEATURES = ("transcript", "exon", "CDS", "stop_codon")
_CANONICAL_TAGS = frozenset({"Ensembl_canonical", "canonical"})  # GENCODE/Ensembl; our shared GTF


def _read_gtf_frame(path: Path):
    """The GTF lines we need (transcript, exon, CDS, stop_codon) as a frame, parsed by pyranges.

    pyranges makes Start 0-based half-open; we add 1 back so the loader below reads GTF coordinates.
    """
    import pyranges as pr

    try:
        df = pr.read_gtf(str(path), as_df=True, duplicate_attr=True)  # every `tag`, comma-joined
    except (OSError, ValueError, EOFError, KeyError, IndexError, AttributeError, TypeError) as err:
        # pyranges fails with AttributeError on a GTF that holds only comment lines
        raise BiblipError(
            f"cannot read GTF ({err})", where=str(path), hint="check the file is a (b)gzip GTF"
        ) from err
    if df.empty or "transcript_id" not in df.columns:
        return df.iloc[0:0]
    df = df[df["Feature"].isin(_FEATURES)].copy()
    df["Start"] = df["Start"].astype("int64") + 1
    for column in ("gene_name", "gene_type", "transcript_type", "gene_id", "protein_id", "tag"):
        if column not in df.columns:
            df[column] = ""
    df["gene_name"] = df["gene_name"].fillna(df.get("gene_id", df["transcript_id"]))
    return df


def _gene_rank(tx: Transcript) -> tuple[int, int]:
    """The transcript that stands for its gene (`by_gene`: protein mapping, model features): MANE Select,
    else Ensembl canonical, else the first listed."""
    return (0 if tx.mane_select else 1, 0 if tx.canonical else 1)


class TranscriptIndex:
    """Transcripts by contig with a binned overlap index and sorted TSS arrays."""

    def __init__(self, transcripts: list[Transcript]) -> None:
        self._by_gene: dict[str, Transcript] = {}
        self._by_contig: dict[str, list[Transcript]] = {}
        self.derived: dict[str, dict] = {}  # tables other modules derive from the index, built once
        for tx in transcripts:
            best = self._by_gene.get(tx.gene)
            if best is None or _gene_rank(tx) < _gene_rank(best):  # ties: the first in the GTF
                self._by_gene[tx.gene] = tx
            self._by_contig.setdefault(tx.chrom, []).append(tx)
        self._bins: dict[str, dict[int, list[Transcript]]] = {}
        self._tss: dict[str, tuple[list[int], list[Transcript]]] = {}
        for contig, txs in self._by_contig.items():
            txs.sort(key=lambda t: (t.start0, t.end0))
            bins: dict[int, list[Transcript]] = {}
            for tx in txs:
                for b in range((tx.start0 - MAX_FLANK) // BIN, (tx.end0 + MAX_FLANK - 1) // BIN + 1):
                    bins.setdefault(b, []).append(tx)
            self._bins[contig] = bins
            order = sorted(txs, key=lambda t: t.tss0)
            self._tss[contig] = ([t.tss0 for t in order], order)

    def __len__(self) -> int:
        return sum(len(v) for v in self._by_contig.values())

    @classmethod
    def from_gtf(cls, path: str | Path) -> TranscriptIndex:
        """Read a GENCODE-style GTF (transcript, exon, CDS, stop_codon lines; gene_name = symbol)."""
        path = Path(path)
        if not path.is_file():
            raise BiblipError("GTF file not found", where=str(path), hint="check the bundle's gtf entry")
        df = _read_gtf_frame(path)
        if df.empty:
            raise BiblipError("GTF has no transcript/exon lines", where=str(path), hint="is this a GTF file?")
        tx_rows = df[df["Feature"] == "transcript"]
        txs: dict[str, Transcript] = {}
        for chrom, start, end, strand, gene, gtype, ttype, tid, gid, tag in zip(
            tx_rows["Chromosome"].astype(str),
            tx_rows["Start"],
            tx_rows["End"],
            tx_rows["Strand"].astype(str),
            tx_rows["gene_name"],
            tx_rows["gene_type"],
            tx_rows["transcript_type"],
            tx_rows["transcript_id"],
            tx_rows["gene_id"],
            tx_rows["tag"],
        ):
            tags = frozenset(tag.split(",")) if isinstance(tag, str) and tag else frozenset()
            txs[tid] = Transcript(
                gene=gene if isinstance(gene, str) and gene else tid,
                transcript_id=tid,
                chrom=chrom,
                strand=strand,
                biotype=ttype if isinstance(ttype, str) else "",
                gene_type=gtype if isinstance(gtype, str) else "",
                start0=int(start) - 1,
                end0=int(end),
                exons=[],
                gene_id=gid if isinstance(gid, str) and gid else "",
                tags=tags,
                canonical=bool(tags & _CANONICAL_TAGS),
            )
        exons = df[df["Feature"] == "exon"]
        for tid, start, end in zip(exons["transcript_id"], exons["Start"], exons["End"]):
            tx = txs.get(tid)
            if tx is not None:
                tx.exons.append((int(start) - 1, int(end)))
        coding = df[df["Feature"].isin(("CDS", "stop_codon"))]
        for tid, start, end, pid in zip(
            coding["transcript_id"], coding["Start"], coding["End"], coding["protein_id"]
        ):
            tx = txs.get(tid)
            if tx is None:
                continue
            if not tx.protein_id and isinstance(pid, str) and pid:
                tx.protein_id = pid
            s0, e0 = int(start) - 1, int(end)
            tx.cds_start0 = s0 if tx.cds_start0 is None else min(tx.cds_start0, s0)
            tx.cds_end0 = e0 if tx.cds_end0 is None else max(tx.cds_end0, e0)
        out = []
        per_gene: dict[str, int] = {}
        for tx in txs.values():
            if not tx.exons:
                tx.exons = [(tx.start0, tx.end0)]
            tx.exons.sort()
            if not tx.gene_id:
                tx.gene_id = tx.gene
            per_gene[tx.gene_id] = per_gene.get(tx.gene_id, 0) + 1
            out.append(tx)
        if not any(tx.canonical for tx in out):  # a GTF without canonical tags: a gene's only transcript
            for tx in out:
                tx.canonical = per_gene[tx.gene_id] == 1
        log.info("gene model: %d transcripts from %s", len(out), path)
        return cls(out)

    @classmethod
    def load(cls, path: str | Path, cache: Path | None | bool = True) -> TranscriptIndex:
        """`from_gtf` through a JSON cache keyed by the GTF's sha256: a process that has seen this GTF
        before reads plain transcripts back (milliseconds) and never imports pandas or pyranges, which
        alone cost the spine ~0.8 s of start-up on the demo bundle.

        `cache`: True = `$BIBLIP_HOME/gene_models`, a Path = that folder, False/None = parse only."""
        from biblip_cli.io.json_cache import home_cache_dir, read_json_cache, write_json_cache

        path = Path(path)
        try:
            digest = hashlib.sha256(f"biblip-gene-model-v{CACHE_FORMAT}".encode())
            with open(path, "rb") as fh:
                for block in iter(lambda: fh.read(1 << 20), b""):
                    digest.update(block)
        except OSError:
            return cls.from_gtf(path)  # the reader's own error (not found, unreadable)
        key = digest.hexdigest()
        folder = home_cache_dir("gene_models") if cache is True else (Path(cache) if cache else None)
        target = folder / f"{key[:32]}.json" if folder is not None else None
        if target is not None:
            doc = read_json_cache(target)
            if isinstance(doc, dict) and doc.get("key") == key:
                try:
                    return cls([_transcript_of_row(row) for row in doc["transcripts"]])
                except (KeyError, TypeError, ValueError, IndexError) as err:
                    log.debug("ignoring gene-model cache %s (%s)", target, err)
        index = cls.from_gtf(path)
        if target is not None:
            rows = [_row_of_transcript(tx) for txs in index._by_contig.values() for tx in txs]
            write_json_cache(target, {"key": key, "gtf": str(path), "transcripts": rows})
        return index

    def contigs(self) -> list[str]:
        return list(self._by_contig)

    def genes(self) -> list[str]:
        return list(self._by_gene)

    def by_gene(self, symbol: str) -> Transcript | None:
        """The gene's MANE Select transcript, else its canonical one, else its first."""
        return self._by_gene.get(symbol)

    def transcripts(self, contig: str) -> list[Transcript]:
        return list(self._by_contig.get(contig, ()))

    def overlapping(self, contig: str, start0: int, end0: int, flank: int = 5000) -> list[Transcript]:
        """Transcripts whose span +-`flank` overlaps `[start0, end0)` (an empty interval = an insertion
        point between start0-1 and start0), in genomic order."""
        flank = min(flank, MAX_FLANK)
        bins = self._bins.get(contig)
        if not bins:
            return []
        end0 = max(end0, start0 + 1)
        lo_b, hi_b = start0 // BIN, (end0 - 1) // BIN
        if lo_b == hi_b:
            cands = bins.get(lo_b, ())
        else:
            seen: dict[int, Transcript] = {}
            for b in range(lo_b, hi_b + 1):
                for tx in bins.get(b, ()):
                    seen[id(tx)] = tx
            cands = sorted(seen.values(), key=lambda t: (t.start0, t.end0))
        return [tx for tx in cands if tx.start0 - flank < end0 and tx.end0 + flank > start0]

    def tss_near(self, contig: str, pos0: int, window: int = 1_000_000) -> list[tuple[Transcript, int]]:
        """Transcripts with a TSS within `window` bp, nearest first, with the signed distance of
        `pos0` from the TSS in transcript orientation (negative = upstream)."""
        entry = self._tss.get(contig)
        if entry is None:
            return []
        tss, order = entry
        lo = bisect.bisect_left(tss, pos0 - window)
        hi = bisect.bisect_right(tss, pos0 + window)
        hits = [(tx, (pos0 - tx.tss0) if tx.strand == "+" else (tx.tss0 - pos0)) for tx in order[lo:hi]]
        hits.sort(key=lambda h: (abs(h[1]), h[0].gene))
        return hits


def _row_of_transcript(tx: Transcript) -> list:
    """A transcript as a JSON row (the cache of `TranscriptIndex.load`); `_transcript_of_row` inverts it."""
    return [
        tx.gene, tx.transcript_id, tx.chrom, tx.strand, tx.biotype, tx.gene_type, tx.start0, tx.end0,
        [v for exon in tx.exons for v in exon], tx.cds_start0, tx.cds_end0, tx.gene_id, tx.protein_id,
        sorted(tx.tags), tx.canonical,
    ]  # fmt: skip


def _transcript_of_row(row: list) -> Transcript:
    flat = row[8]
    return Transcript(
        gene=row[0], transcript_id=row[1], chrom=row[2], strand=row[3], biotype=row[4], gene_type=row[5],
        start0=int(row[6]), end0=int(row[7]), exons=[(int(flat[i]), int(flat[i + 1])) for i in range(0, len(flat), 2)],
        cds_start0=row[9], cds_end0=row[10], gene_id=row[11], protein_id=row[12], tags=frozenset(row[13]),
        canonical=bool(row[14]),
    )  # fmt: skip
