"""The protein modality: residue windows and substitution features of a coding change.

`protein_features` layout (PROTEIN_FEATURE_DIM = 96 floats; the checkpoint depends on it, keep it):

| cols  | feature                                                                           |
|-------|-----------------------------------------------------------------------------------|
| 0     | BLOSUM62(ref, alt) / 10 (stop involved: -4; synonymous: the diagonal)             |
| 1     | Grantham(ref, alt) / 215 (stop involved: 1.0; 0 for synonymous / unknown)         |
| 2     | relative position: residue / protein length, clipped to [0, 1]                    |
| 3     | log10(protein length + 1) / 4                                                     |
| 4-24  | ref residue one-hot over AA21 = "ACDEFGHIKLMNPQRSTVWY*" (all 0 = unknown)         |
| 25-45 | alt residue one-hot over AA21                                                     |
| 46-52 | flags: stop_gained, stop_lost, start_lost, frameshift, inframe indel, synonymous, |
|       | missense                                                                          |
| 53    | hydrophobicity change (Kyte-Doolittle alt - ref) / 9                              |
| 54    | charge change (alt - ref, at pH 7: D,E -1; K,R +1; H +0.1) / 2                    |
| 55    | side-chain volume change (alt - ref, A^3) / 170                                   |
| 56    | residue window known (protein sequence present and the ref residue matches)       |
| 57    | log10(residues to the C-terminus + 1) / 4                                         |
| 58    | splice-region flag (the coding change also touches a splice site/region)          |
| 59-63 | reserved (0)                                                                      |
| 64-95 | variant-level evidence: residue window, paralogs, gene prior (`evidence.py`)      |

Residue windows: W = 2 * PROTEIN_FLANK + 1 residues centred on the changed residue, ids
AA_VOCAB.index(aa) + 1 (0 = pad/unknown). ALT window: the ref window with the ref residue(s) replaced
by the alt residue(s); after a new stop (or a frameshift) the rest of the window is padding.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

from biblip_cli.features.inputs import AA_VOCAB, PROTEIN_FEATURE_DIM

PROTEIN_FLANK = 15
PROTEIN_WINDOW = 2 * PROTEIN_FLANK + 1
AA21 = "ACDEFGHIKLMNPQRSTVWY*"

COL_BLOSUM, COL_GRANTHAM, COL_RELPOS, COL_LOGLEN = 0, 1, 2, 3
COL_REF_ONEHOT, COL_ALT_ONEHOT = 4, 25
FLAG_COLUMNS = {
    "stop_gained": 46,
    "stop_lost": 47,
    "start_lost": 48,
    "frameshift": 49,
    "inframe": 50,
    "synonymous": 51,
    "missense": 52,
}
COL_HYDRO, COL_CHARGE, COL_VOLUME, COL_WINDOW_KNOWN, COL_TO_END, COL_SPLICE = 53, 54, 55, 56, 57, 58

_B62_ORDER = "ARNDCQEGHILKMFPSTWYV"
_B62_ROWS = {
    "A": (4, -1, -2, -2, 0, -1, -1, 0, -2, -1, -1, -1, -1, -2, -1, 1, 0, -3, -2, 0),
    "R": (-1, 5, 0, -2, -3, 1, 0, -2, 0, -3, -2, 2, -1, -3, -2, -1, -1, -3, -2, -3),
    "N": (-2, 0, 6, 1, -3, 0, 0, 0, 1, -3, -3, 0, -2, -3, -2, 1, 0, -4, -2, -3),
    "D": (-2, -2, 1, 6, -3, 0, 2, -1, -1, -3, -4, -1, -3, -3, -1, 0, -1, -4, -3, -3),
    "C": (0, -3, -3, -3, 9, -3, -4, -3, -3, -1, -1, -3, -1, -2, -3, -1, -1, -2, -2, -1),
    "Q": (-1, 1, 0, 0, -3, 5, 2, -2, 0, -3, -2, 1, 0, -3, -1, 0, -1, -2, -1, -2),
    "E": (-1, 0, 0, 2, -4, 2, 5, -2, 0, -3, -3, 1, -2, -3, -1, 0, -1, -3, -2, -2),
    "G": (0, -2, 0, -1, -3, -2, -2, 6, -2, -4, -4, -2, -3, -3, -2, 0, -2, -2, -3, -3),
    "H": (-2, 0, 1, -1, -3, 0, 0, -2, 8, -3, -3, -1, -2, -1, -2, -1, -2, -2, 2, -3),
    "I": (-1, -3, -3, -3, -1, -3, -3, -4, -3, 4, 2, -3, 1, 0, -3, -2, -1, -3, -1, 3),
    "L": (-1, -2, -3, -4, -1, -2, -3, -4, -3, 2, 4, -2, 2, 0, -3, -2, -1, -2, -1, 1),
    "K": (-1, 2, 0, -1, -3, 1, 1, -2, -1, -3, -2, 5, -1, -3, -1, 0, -1, -3, -2, -2),
    "M": (-1, -1, -2, -3, -1, 0, -2, -3, -2, 1, 2, -1, 5, 0, -2, -1, -1, -1, -1, 1),
    "F": (-2, -3, -3, -3, -2, -3, -3, -3, -1, 0, 0, -3, 0, 6, -4, -2, -2, 1, 3, -1),
    "P": (-1, -2, -2, -1, -3, -1, -1, -2, -2, -3, -3, -1, -2, -4, 7, -1, -1, -4, -3, -2),
    "S": (1, -1, 1, 0, -1, 0, 0, 0, -1, -2, -2, 0, -1, -2, -1, 4, 1, -3, -2, -2),
    "T": (0, -1, 0, -1, -1, -1, -1, -2, -2, -1, -1, -1, -1, -2, -1, 1, 5, -2, -2, 0),
    "W": (-3, -3, -4, -4, -2, -2, -3, -2, -2, -3, -2, -3, -1, 1, -4, -3, -2, 11, 2, -3),
    "Y": (-2, -2, -2, -3, -2, -1, -2, -3, 2, -1, -1, -2, -1, 3, -3, -2, -2, 2, 7, -1),
    "V": (0, -3, -3, -3, -1, -2, -2, -3, -3, 3, 1, -2, 1, -1, -2, -2, 0, -3, -1, 4),
}

# Grantham (1974) distances, upper triangle in his residue order.
_GRANTHAM_ORDER = "SRLPTAVGIFYCHQNKDEMW"
_GRANTHAM_ROWS = (
    (110, 145, 74, 58, 99, 124, 56, 142, 155, 144, 112, 89, 68, 46, 121, 65, 80, 135, 177),
    (102, 103, 71, 112, 96, 125, 97, 97, 77, 180, 29, 43, 86, 26, 96, 54, 91, 101),
    (98, 92, 96, 32, 138, 5, 22, 36, 198, 99, 113, 153, 107, 172, 138, 15, 61),
    (38, 27, 68, 42, 95, 114, 110, 169, 77, 76, 91, 103, 108, 93, 87, 147),
    (58, 69, 59, 89, 103, 92, 149, 47, 42, 65, 78, 85, 65, 81, 128),
    (64, 60, 94, 113, 112, 195, 86, 91, 111, 106, 126, 107, 84, 148),
    (109, 29, 50, 55, 192, 84, 96, 133, 97, 152, 121, 21, 88),
    (135, 153, 147, 159, 98, 87, 80, 127, 94, 98, 127, 184),
    (21, 33, 198, 94, 109, 149, 102, 168, 134, 10, 61),
    (22, 205, 100, 116, 158, 102, 177, 140, 28, 40),
    (194, 83, 99, 143, 85, 160, 122, 36, 37),
    (174, 154, 139, 202, 154, 170, 196, 215),
    (24, 68, 32, 81, 40, 87, 115),
    (46, 53, 61, 29, 101, 130),
    (94, 23, 42, 142, 174),
    (101, 56, 95, 110),
    (45, 160, 181),
    (126, 152),
    (67,),
)

_KYTE_DOOLITTLE = dict(
    zip(
        "ACDEFGHIKLMNPQRSTVWY",
        (
            1.8,
            2.5,
            -3.5,
            -3.5,
            2.8,
            -0.4,
            -3.2,
            4.5,
            -3.9,
            3.8,
            1.9,
            -3.5,
            -1.6,
            -3.5,
            -4.5,
            -0.8,
            -0.7,
            4.2,
            -0.9,
            -1.3,
        ),
        strict=True,
    )
)
_CHARGE = {"D": -1.0, "E": -1.0, "K": 1.0, "R": 1.0, "H": 0.1}
_VOLUME = dict(
    zip(
        "ACDEFGHIKLMNPQRSTVWY",
        (
            88.6,
            108.5,
            111.1,
            138.4,
            189.9,
            60.1,
            153.2,
            166.7,
            168.6,
            166.7,
            162.9,
            114.1,
            112.7,
            143.8,
            173.4,
            89.0,
            116.1,
            140.0,
            227.8,
            193.6,
        ),
        strict=True,
    )
)


def _grantham_table() -> dict[tuple[str, str], int]:
    table: dict[tuple[str, str], int] = {}
    for i, row in enumerate(_GRANTHAM_ROWS):
        a = _GRANTHAM_ORDER[i]
        table[(a, a)] = 0
        for j, value in enumerate(row):
            b = _GRANTHAM_ORDER[i + 1 + j]
            table[(a, b)] = table[(b, a)] = value
    table[("W", "W")] = 0
    return table


GRANTHAM = _grantham_table()
BLOSUM62 = {(a, b): _B62_ROWS[a][j] for a in _B62_ORDER for j, b in enumerate(_B62_ORDER)}

# byte -> residue id lookup (AA_VOCAB index + 1; anything else 0), for vectorised windows
AA_LUT = np.zeros(256, dtype=np.int64)
for _i, _aa in enumerate(AA_VOCAB):
    AA_LUT[ord(_aa)] = _i + 1
    AA_LUT[ord(_aa.lower())] = _i + 1


def blosum62(ref: str, alt: str) -> int | None:
    """BLOSUM62 score; -4 when exactly one side is a stop, None for unknown residues."""
    if ref == "*" or alt == "*":
        return 1 if ref == alt else -4
    return BLOSUM62.get((ref, alt))


def grantham(ref: str, alt: str) -> int | None:
    """Grantham distance; 215 (the maximum) when exactly one side is a stop, None for unknown residues."""
    if ref == "*" or alt == "*":
        return 0 if ref == alt else 215
    return GRANTHAM.get((ref, alt))


def residue_ids(seq: str) -> np.ndarray:
    return AA_LUT[np.frombuffer(seq.encode("ascii", "replace"), dtype=np.uint8)]


def residue_windows(
    protein: str, position: int, ref_aas: str, alt_aas: str, frameshift: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """(ref ids, alt ids), each [PROTEIN_WINDOW] int64, centred on 1-based `position`."""
    centre = position - 1
    lo = centre - PROTEIN_FLANK
    padded = "\0" * PROTEIN_FLANK + protein + "\0" * (PROTEIN_WINDOW + len(ref_aas))
    ref = padded[lo + PROTEIN_FLANK : lo + PROTEIN_FLANK + PROTEIN_WINDOW]
    left = ref[:PROTEIN_FLANK]
    alt_core = alt_aas.replace("-", "")
    if frameshift:
        alt = left + (alt_core[:1] or "X")
    elif "*" in alt_core:
        alt = left + alt_core[: alt_core.index("*") + 1]
    else:
        right = padded[centre + PROTEIN_FLANK + max(len(ref_aas.replace("-", "")), 0) :]
        alt = left + alt_core + right
    alt = (alt + "\0" * PROTEIN_WINDOW)[:PROTEIN_WINDOW]
    return residue_ids(ref), residue_ids(alt)


@lru_cache(maxsize=4096)
def _substitution_row(ref1: str, alt1: str, single: bool) -> np.ndarray:
    """The residue-only columns (scores, one-hots, property changes); cached, never mutated."""
    row = np.zeros(PROTEIN_FEATURE_DIM, dtype=np.float32)
    if single:
        score = blosum62(ref1, alt1)
        distance = grantham(ref1, alt1)
        if score is not None:
            row[COL_BLOSUM] = score / 10.0
        if distance is not None:
            row[COL_GRANTHAM] = distance / 215.0
        if ref1 in _KYTE_DOOLITTLE and alt1 in _KYTE_DOOLITTLE:
            row[COL_HYDRO] = (_KYTE_DOOLITTLE[alt1] - _KYTE_DOOLITTLE[ref1]) / 9.0
            row[COL_CHARGE] = (_CHARGE.get(alt1, 0.0) - _CHARGE.get(ref1, 0.0)) / 2.0
            row[COL_VOLUME] = (_VOLUME[alt1] - _VOLUME[ref1]) / 170.0
    if ref1 and ref1 in AA21:
        row[COL_REF_ONEHOT + AA21.index(ref1)] = 1.0
    if alt1 and alt1 in AA21:
        row[COL_ALT_ONEHOT + AA21.index(alt1)] = 1.0
    row.setflags(write=False)
    return row


def protein_feature_row(
    ref_aa: str,
    alt_aa: str,
    position: int | None,
    protein_length: int | None,
    flags: set[str],
    window_known: bool,
    splice: bool = False,
) -> np.ndarray:
    """One PROTEIN_FEATURE_DIM row (layout in the module docstring). ref/alt: one letter or ''."""
    single = len(ref_aa) == 1 and len(alt_aa) == 1
    row = _substitution_row(ref_aa[:1].upper(), alt_aa[:1].upper(), single).copy()
    if protein_length:
        row[COL_LOGLEN] = math.log10(protein_length + 1) / 4.0
        if position:
            row[COL_RELPOS] = min(max(position / protein_length, 0.0), 1.0)
            row[COL_TO_END] = math.log10(max(protein_length - position, 0) + 1) / 4.0
    for flag in flags:
        if flag in FLAG_COLUMNS:
            row[FLAG_COLUMNS[flag]] = 1.0
    row[COL_WINDOW_KNOWN] = float(window_known)
    row[COL_SPLICE] = float(splice)
    return row


_TERM_FLAG = {
    "stop_gained": "stop_gained",
    "stop_lost": "stop_lost",
    "start_lost": "start_lost",
    "frameshift_variant": "frameshift",
    "inframe_insertion": "inframe",
    "inframe_deletion": "inframe",
    "synonymous_variant": "synonymous",
    "stop_retained_variant": "synonymous",
    "start_retained_variant": "synonymous",
    "missense_variant": "missense",
    "protein_altering_variant": "missense",
}
CODING_TERMS = frozenset(_TERM_FLAG) | {"coding_sequence_variant", "incomplete_terminal_codon_variant"}


def change_flags(consequences: list[str], ref_aa: str = "", alt_aa: str = "", position: int = 0) -> set[str]:
    """Protein-change flags from SO terms (genomic alleles) or, without them, from the residues."""
    terms = consequences or [protein_consequence(ref_aa, alt_aa, position)]
    return {_TERM_FLAG[t] for t in terms if t in _TERM_FLAG}


def protein_consequence(ref_aa: str, alt_aa: str, position: int) -> str:
    """SO term of a one-residue change given only the residues (protein-level variants)."""
    if ref_aa == alt_aa:
        return "synonymous_variant"
    if alt_aa == "*":
        return "stop_gained"
    if ref_aa == "*":
        return "stop_lost"
    if position == 1 and ref_aa == "M":
        return "start_lost"
    return "missense_variant"
