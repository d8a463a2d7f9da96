"""The bundle's protein set: read once from several FASTA sources, then the subset and the paralog table."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from pathlib import Path

from biblip_cli.bundle.knowledge import iter_fasta, parse_protein_header
from biblip_cli.bundle.paralogs import find_paralogs, write_paralogs
from biblip_cli.bundle.subsets import LINE_WIDTH, gz_text_writer

log = logging.getLogger(__name__)

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
    merged: dict[str, tuple[str, dict[str, str]]],
    dest: Path,
    genes: set[str],
    threads: int = 1,
    progress: Callable[[int, int], None] | None = None,
) -> int:
    """Paralogs of the bundle's proteins searched among *all* input proteins (`bundle/paralogs.py`).
    `progress(aligned, total)` after each protein; without it, a log line every tenth of them."""
    proteins = {g: seq for g, (seq, _attrs) in merged.items()}
    queries = [g for g in proteins if g in genes]
    step = max(len(queries) // 10, 1)

    def log_tenths(done: int, total: int) -> None:
        if done and (done % step == 0 or done == total):
            log.info("paralogs: %d/%d proteins aligned", done, total)

    table = find_paralogs(proteins, queries, threads=threads, progress=progress or log_tenths)
    return write_paralogs(table, dest)
