"""The gene split: which genes (and the variants and enhancer pairs about them) train, validate or test.

Fixed and seed-independent; training stores it in `metadata.json` and evaluation reads the same rule.
"""

from __future__ import annotations

import hashlib

from biblip_cli.io.datasets import normalise_chrom

SPLITS = ("train", "val", "test")
TRAIN_FRACTION = 0.8
VAL_FRACTION = 0.1
#: whole chromosomes held out (genes and enhancer pairs): chr21 (the second demo contig, no coding gene
#: in its sequenced part) plus chr22 and chr4 for test, chr10 for validation.
TEST_CHROMS = ("chr21", "chr22", "chr4")
VAL_CHROMS = ("chr10",)
SPLIT_RULE = (
    "gene split: chromosome in TEST_CHROMS -> test, in VAL_CHROMS -> val, else u = int(sha1(symbol)[:8], 16) / 2**32:"
    " u < 0.8 train, u < 0.9 val, else test"
)


def gene_hash_unit(symbol: str) -> float:
    """Stable number in [0, 1) from the gene symbol (sha1, first 32 bits): same on every machine."""
    return int(hashlib.sha1(symbol.encode("utf-8")).hexdigest()[:8], 16) / 2**32


def gene_split(symbol: str, chrom: str = "") -> str:
    """The split of a gene: held-out chromosomes first, then the symbol's hash."""
    chrom = normalise_chrom(chrom)
    if chrom in TEST_CHROMS:
        return "test"
    if chrom in VAL_CHROMS:
        return "val"
    u = gene_hash_unit(symbol)
    if u < TRAIN_FRACTION:
        return "train"
    return "val" if u < TRAIN_FRACTION + VAL_FRACTION else "test"
