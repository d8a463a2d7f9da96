"""Reference sequence access on the hot path: contig-name resolution and N-padded fetches.

Coordinates: this module is the one place that turns user-facing positions into slices.
VCF/GTF positions are 1-based inclusive; `Genome.fetch` takes 0-based half-open
`[start0, end0)`, so VCF `POS` p with REF of length n is `fetch(chrom, p - 1, p - 1 + n)`
(see `to_start0`). Bases outside the contig (or on a contig the bundle has no sequence for)
come back as `N`, so windows at contig ends keep their length.
"""

from __future__ import annotations

import logging
import os
import warnings
import weakref
from pathlib import Path

from biblip_cli.errors import BiblipError

log = logging.getLogger(__name__)

CHUNK = 1 << 16  # 64 kb: inputs are position-sorted, so nearby fetches reuse one decoded chunk


def _reopen(ref: weakref.ref) -> None:
    genome = ref()
    if genome is not None and getattr(genome, "_fasta", None) is not None:
        try:
            genome._fasta = genome._open()
        except Exception as err:  # noqa: BLE001 - a hook in every fork: a gone file must not break it
            log.debug("cannot reopen %s after fork (%s)", genome.path, err)


def to_start0(pos1: int) -> int:
    """1-based inclusive position (VCF POS, GTF start) -> 0-based half-open start."""
    return pos1 - 1


class Genome:
    """A bgzip (or plain) FASTA with its .fai (+ .gzi) index, read through pyfaidx."""

    def __init__(
        self, fasta_path: Path, aliases: dict[str, str] | None = None, extra_contigs: list[str] | None = None
    ) -> None:
        import pyfaidx

        self.path = Path(fasta_path)
        if not self.path.is_file():
            raise BiblipError(
                "FASTA file not found",
                where=str(self.path),
                hint="check the bundle with `biblip bundle validate`",
            )
        fai = Path(str(self.path) + ".fai")
        if not fai.is_file():
            raise BiblipError(
                "FASTA has no .fai index",
                where=str(self.path),
                hint=f"run `samtools faidx {self.path}` or rebuild with `biblip bundle build`",
            )
        if self.path.suffix == ".gz" and not Path(str(self.path) + ".gzi").is_file():
            raise BiblipError(
                "bgzip FASTA has no .gzi index",
                where=str(self.path),
                hint=f"run `samtools faidx {self.path}` (or `bgzip -r`) or rebuild with `biblip bundle build`",
            )
        try:
            self._fasta = self._open()
        except pyfaidx.UnsupportedCompressionFormat as err:
            raise BiblipError(
                "FASTA is gzip but not bgzip-compressed",
                where=str(self.path),
                hint="recompress with `bgzip` and index with `samtools faidx`",
            ) from err
        except (pyfaidx.FastaIndexingError, ValueError, OSError) as err:
            raise BiblipError(
                f"cannot read FASTA or its index ({err})",
                where=str(self.path),
                hint="re-index with `samtools faidx` or rebuild the bundle",
            ) from err
        self._lengths = {name: int(entry.rlen) for name, entry in self._fasta.faidx.index.items()}
        self._known = set(self._lengths) | set(extra_contigs or [])
        self._aliases = dict(aliases or {})
        self._resolved: dict[str, str | None] = {}
        self._chunk_key: tuple[str, int] | None = None
        self._chunk = ""

        # A forked child (annotate's spine workers) shares the parent's file offset: its reads would
        # interleave with the parent's and decode garbage, so the child opens the file afresh.
        ref = weakref.ref(self)
        os.register_at_fork(after_in_child=lambda: _reopen(ref))

    def _open(self):
        import pyfaidx

        with warnings.catch_warnings():  # "index older than FASTA" after a copy: validate checks hashes
            warnings.simplefilter("ignore", RuntimeWarning)
            return pyfaidx.Fasta(
                str(self.path), sequence_always_upper=True, rebuild=False, build_index=False, as_raw=True
            )

    @property
    def contigs(self) -> dict[str, int]:
        """Contig name -> sequence length, in FASTA order."""
        return dict(self._lengths)

    def resolve(self, chrom: str) -> str | None:
        """Bundle contig name for an input name (`20` -> `chr20`, `MT` -> `chrM`), or None if unknown."""
        hit = self._resolved.get(chrom, "")
        if hit != "":
            return hit
        if chrom in self._known:
            name: str | None = chrom
        else:
            target = self._aliases.get(chrom)
            name = target if target in self._known else None
        self._resolved[chrom] = name
        return name

    def has_sequence(self, contig: str) -> bool:
        return contig in self._lengths

    def length(self, contig: str) -> int:
        """Sequence length of a bundle contig (0 for a contig known only from the gene model)."""
        return self._lengths.get(contig, 0)

    def fetch(self, chrom: str, start0: int, end0: int) -> str:
        """Uppercase sequence of `[start0, end0)`; N outside the contig or without sequence."""
        if end0 <= start0:
            return ""
        contig = self.resolve(chrom) if chrom not in self._lengths else chrom
        length = self._lengths.get(contig or "", 0)
        if not length:
            return "N" * (end0 - start0)
        lo, hi = max(start0, 0), min(end0, length)
        if hi <= lo:
            return "N" * (end0 - start0)
        core = self._read(contig, lo, hi)  # type: ignore[arg-type]
        return "N" * (lo - start0) + core + "N" * (end0 - hi)

    def _read(self, contig: str, lo: int, hi: int) -> str:
        first = lo // CHUNK
        if hi - lo > CHUNK or (hi - 1) // CHUNK != first:
            if (hi - 1) // CHUNK == first + 1 and hi - lo <= CHUNK:
                return (
                    self._chunk_at(contig, first)[lo - first * CHUNK :]
                    + self._chunk_at(contig, first + 1)[: hi - (first + 1) * CHUNK]
                )
            return str(self._fasta[contig][lo:hi])
        base = first * CHUNK
        return self._chunk_at(contig, first)[lo - base : hi - base]

    def _chunk_at(self, contig: str, index: int) -> str:
        key = (contig, index)
        if self._chunk_key != key:
            start = index * CHUNK
            self._chunk = str(self._fasta[contig][start : min(start + CHUNK, self._lengths[contig])])
            self._chunk_key = key
        return self._chunk

    def close(self) -> None:
        self._fasta.close()
