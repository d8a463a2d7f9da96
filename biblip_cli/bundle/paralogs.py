"""Paralogs inside the proteome we have: the poor man's alignment column for a residue.

No MSA or protein language model is available offline, but human paralogs are: a residue that its
paralogs keep is more likely to matter than one they vary (the "paralogous variant" evidence of clinical
genetics). At bundle build time every protein is compared with the others (a shared-3-mer prefilter,
then Smith-Waterman with BLOSUM62 on the best candidates); the table stores, per gene and paralog, the
paralog residue aligned to each residue of the gene (`-` where unaligned), so reading it needs no
sequences and no aligner.

File `genes/paralogs.tsv.gz` (bundle role `paralogs`): `gene, paralog, identity, score, aligned`, one
row per pair, `aligned` as long as the gene's protein. Labels of variants are never stored here.
"""

from __future__ import annotations

import gzip
import logging
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from biblip_cli.errors import BiblipError

log = logging.getLogger(__name__)

KMER = 3
CANDIDATES = 12  # prefilter hits aligned per gene
KEEP = 6  # paralogs kept per gene
MIN_SHARED = 0.08  # fraction of the smaller protein's distinct 3-mers shared, to be aligned at all
MIN_SCORE = 80.0  # Smith-Waterman score (BLOSUM62, gap -11/-1) to keep a paralog
HEADER = "gene\tparalog\tidentity\tscore\taligned\n"


@dataclass(frozen=True)
class Paralog:
    gene: str
    identity: float  # identical residues / aligned residues
    score: float
    aligned: str  # residue of the paralog aligned to each residue of the query gene, '-' if none


def _aligner():
    from Bio import Align
    from Bio.Align import substitution_matrices

    return Align.PairwiseAligner(
        mode="local",
        substitution_matrix=substitution_matrices.load("BLOSUM62"),
        open_gap_score=-11,
        extend_gap_score=-1,
    )


def _kmers(seq: str) -> set[str]:
    return {seq[i : i + KMER] for i in range(len(seq) - KMER + 1)}


def _aligned_string(query: str, target: str, blocks: tuple) -> tuple[str, float]:
    out = ["-"] * len(query)
    same = total = 0
    for (a0, a1), (b0, _b1) in zip(*blocks, strict=True):
        for i in range(a1 - a0):
            residue = target[b0 + i]
            out[a0 + i] = residue
            same += residue == query[a0 + i]
            total += 1
    return "".join(out), same / max(total, 1)


# state for worker processes (set once per process by _init)
_STATE: dict = {}


def _init(proteins: Mapping[str, str]) -> None:
    names = sorted(proteins)
    kmers = {g: _kmers(proteins[g]) for g in names}
    index: dict[str, list[int]] = defaultdict(list)
    for i, g in enumerate(names):
        for k in kmers[g]:
            index[k].append(i)
    sizes = np.array([len(kmers[g]) for g in names], dtype=np.float64)
    _STATE.update(proteins=proteins, names=names, kmers=kmers, index=index, sizes=sizes, aligner=_aligner())


def _paralogs_of(gene: str) -> tuple[str, list[Paralog]]:
    proteins, names, kmers, index = _STATE["proteins"], _STATE["names"], _STATE["kmers"], _STATE["index"]
    counts = np.zeros(len(names), dtype=np.float64)
    for k in kmers[gene]:
        counts[index[k]] += 1
    self_index = names.index(gene) if gene in proteins else -1
    if self_index >= 0:
        counts[self_index] = 0
    shared = counts / (np.minimum(_STATE["sizes"], len(kmers[gene])) + 1)
    aligner, query = _STATE["aligner"], proteins[gene]
    scored = []
    for j in np.argsort(-shared, kind="stable")[:CANDIDATES]:
        if shared[j] < MIN_SHARED:
            break
        other = names[j]
        score = float(aligner.score(query, proteins[other]))
        if score >= MIN_SCORE:
            scored.append((score, other))
    scored.sort(key=lambda s: (-s[0], s[1]))
    found = []
    for score, other in scored[:KEEP]:
        alignment = aligner.align(query, proteins[other])[0]
        aligned, identity = _aligned_string(query, proteins[other], alignment.aligned)
        found.append(Paralog(other, round(identity, 4), score, aligned))
    return gene, found


def find_paralogs(
    proteins: Mapping[str, str],
    genes: Iterable[str] | None = None,
    threads: int = 1,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, list[Paralog]]:
    """Paralogs among `proteins` of each of `genes` (default: all), best alignment score first."""
    proteins = {g: s.rstrip("*").upper() for g, s in proteins.items() if len(s) >= 20}
    todo = sorted(g for g in (genes if genes is not None else proteins) if g in proteins)
    result: dict[str, list[Paralog]] = {}
    if progress:
        progress(0, len(todo))  # the clock of a progress rate starts here
    if threads > 1 and len(todo) > 50:
        with ProcessPoolExecutor(threads, initializer=_init, initargs=(proteins,)) as pool:
            for n, (gene, found) in enumerate(pool.map(_paralogs_of, todo, chunksize=16), start=1):
                result[gene] = found
                if progress:
                    progress(n, len(todo))
    else:
        _init(proteins)
        for n, gene in enumerate(todo, start=1):
            result[gene] = _paralogs_of(gene)[1]
            if progress:
                progress(n, len(todo))
        _STATE.clear()
    return result


def write_paralogs(table: Mapping[str, list[Paralog]], path: Path) -> int:
    """Write the table (reproducible gzip); returns the number of pairs."""
    rows = 0
    with open(path, "wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as gz:
        gz.write(HEADER.encode())
        for gene in sorted(table):
            for p in table[gene]:
                gz.write(f"{gene}\t{p.gene}\t{p.identity:.4f}\t{p.score:.0f}\t{p.aligned}\n".encode())
                rows += 1
    return rows


def read_paralogs(path: Path) -> dict[str, list[Paralog]]:
    table: dict[str, list[Paralog]] = defaultdict(list)
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        header = fh.readline()
        if header != HEADER:
            raise BiblipError("not a biblip paralog table", where=f"{path}:1", hint=f"expected {HEADER!r}")
        for line in fh:
            gene, other, identity, score, aligned = line.rstrip("\n").split("\t")
            table[gene].append(Paralog(other, float(identity), float(score), aligned))
    return dict(table)
