"""The DNA modality: fixed-length reference and alternate windows around each allele.

Window length L = 2 * flank (default 512): bases `[start0 - flank, start0 + flank)` for REF, so the
first REF base sits at index `flank` (even length keeps convolution strides simple). ALT window: the
same left flank, then the ALT bases, then the reference from `end0` on, cut to L; so SNVs/MNVs
change bases in place, insertions push the right flank out, deletions pull more right flank in, and
the length never changes. Positions outside the contig get `DNA_PAD`; unsequenced bases inside it
(FASTA N) get N. One fetch per allele, then one numpy lookup over all bytes of the batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from biblip_cli.features.inputs import DNA_PAD, DNA_VOCAB
from biblip_cli.records import AlleleAnnotation

DNA_LUT = np.full(256, DNA_VOCAB.index("N"), dtype=np.int64)
for _i, _base in enumerate(DNA_VOCAB):
    DNA_LUT[ord(_base)] = _i
    DNA_LUT[ord(_base.lower())] = _i
DNA_LUT[0] = DNA_PAD  # NUL marks "outside the contig" in the joined buffers
_ACGT = frozenset("ACGT")


@dataclass
class DnaWindows:
    ref: np.ndarray  # [B, L] int64
    alt: np.ndarray  # [B, L] int64
    mask: np.ndarray  # [B] bool


def _windows_for(genome, annotation: AlleleAnnotation, flank: int) -> tuple[bytes, bytes] | None:
    """(ref, alt) window bytes of length 2*flank with NUL outside the contig, or None if unusable."""
    allele = annotation.allele
    if annotation.status != "ok" or not set(allele.alt.upper()) <= _ACGT or not allele.alt:
        return None
    contig = genome.resolve(allele.chrom)
    length = genome.length(contig) if contig else 0
    if not length:
        return None
    size = 2 * flank
    lo = allele.start0 - flank
    hi = allele.end0 + flank
    seq = genome.fetch(contig, lo, hi)
    # NUL out what lies beyond the contig ends (fetch N-pads there; real N inside stays N)
    left_out = max(0, -lo)
    right_out = max(0, hi - length)
    raw = bytearray(seq.encode("ascii"))
    raw[:left_out] = b"\0" * min(left_out, len(raw))
    if right_out:
        cut = max(0, len(raw) - right_out)
        raw[cut:] = b"\0" * (len(raw) - cut)
    ref = bytes(raw[:size])
    if len(ref) < size:
        ref += b"\0" * (size - len(ref))
    alt = bytes(raw[:flank]) + allele.alt.upper().encode("ascii") + bytes(raw[flank + len(allele.ref) :])
    alt = (alt + b"\0" * size)[:size]
    return ref, alt


def dna_windows(genome, annotations: Sequence[AlleleAnnotation], flank: int = 256) -> DnaWindows:
    """Ref/alt id windows [B, 2*flank] and the mask (False: not ok, no sequence, or all N)."""
    size = 2 * flank
    n = len(annotations)
    mask = np.zeros(n, dtype=bool)
    refs: list[bytes] = []
    alts: list[bytes] = []
    blank = b"\0" * size
    for i, annotation in enumerate(annotations):
        pair = _windows_for(genome, annotation, flank) if genome is not None else None
        if pair is None:
            refs.append(blank)
            alts.append(blank)
            continue
        refs.append(pair[0])
        alts.append(pair[1])
        mask[i] = True
    ref = DNA_LUT[np.frombuffer(b"".join(refs), dtype=np.uint8)].reshape(n, size)
    alt = DNA_LUT[np.frombuffer(b"".join(alts), dtype=np.uint8)].reshape(n, size)
    known = (ref < DNA_VOCAB.index("N")).any(axis=1)  # an all-N (or all-pad) window carries nothing
    return DnaWindows(ref=ref, alt=alt, mask=mask & known)


def decode(ids: np.ndarray) -> str:
    """Ids back to bases ('-' for padding), for tests and debugging."""
    alphabet = DNA_VOCAB + "-"
    return "".join(alphabet[int(i)] for i in ids)
