"""The Exomiser-style filters of `biblip rank` and population allele frequency as evidence.

Per carried ALT allele, in this order (an allele is counted once, by the first filter that removes it):
1. FILTER: only PASS (or `.`, filters not applied) unless `include_filtered`.
2. GQ, 3. DP: the proband's FORMAT/GQ and FORMAT/DP against `min_gq`/`min_dp`; a missing field or value
   means the filter is not applied to that allele (counted as "not checked").
4. population AF (after the allele's gene is chosen, before compound-het pairing): the max over the AF
   fields (INFO) and, for Number=A/R fields, over this allele's values; above the gene's threshold the
   allele is removed. Thresholds: `max_af` when given, else 0.01 for dominant-only genes (AD, XLD, Y)
   and 0.02 for every other gene (recessive, X-linked, both modes, no known mode, intergenic).
Below the threshold the AF is evidence: Exomiser's frequency score `frequency_factor(af)` multiplies
the `--no-model` score and its log is added to the model's log-odds (docs/rank.md, "Filters").
"""

from __future__ import annotations

import logging
import math
import re
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)

DEFAULT_MIN_GQ = 20  # the thresholds the family logic uses for a confident parental hom-ref
DEFAULT_MIN_DP = 10
DOMINANT_MAX_AF = 0.01
RECESSIVE_MAX_AF = 0.02
DOMINANT_ONLY_MODES = frozenset({"AD", "XLD", "Y"})
# INFO fields auto-detected (case-insensitive) when no --af-field is given; plain `AF` is never one:
# in a single-sample or cohort VCF it is the call set's own frequency, not the population's.
DEFAULT_AF_FIELDS = (
    "gnomAD_AF", "gnomADe_AF", "gnomADg_AF", "gnomAD_exomes_AF", "gnomAD_genomes_AF",
    "AF_popmax", "AF_grpmax", "gnomAD_AF_popmax", "gnomAD_AF_grpmax", "MAX_AF",
)  # fmt: skip
FREQUENCY_FLOOR = 0.01  # frequency_factor never below this, so its log stays finite (-4.6)


@dataclass(frozen=True)
class FilterSettings:
    """What `biblip rank` filters on (defaults: docs/rank.md, "Filters")."""

    include_filtered: bool = False
    min_gq: int = DEFAULT_MIN_GQ  # 0 = off
    min_dp: int = DEFAULT_MIN_DP  # 0 = off
    af_fields: tuple[str, ...] = ()  # empty: auto-detect DEFAULT_AF_FIELDS in the header
    max_af: float | None = None  # None: DOMINANT_MAX_AF / RECESSIVE_MAX_AF by the gene's modes
    frequency: bool = True  # False: no AF filter and no frequency evidence

    @classmethod
    def off(cls) -> FilterSettings:
        """No filter at all: every carried allele is a candidate (the pre-filter behaviour)."""
        return cls(include_filtered=True, min_gq=0, min_dp=0, frequency=False)

    def max_af_words(self) -> str:
        if not self.frequency:
            return "off"
        if self.max_af is not None:
            return f"{self.max_af:g}"
        return f"{DOMINANT_MAX_AF:g} dominant-only genes / {RECESSIVE_MAX_AF:g} others (default)"


@dataclass(frozen=True)
class AfField:
    name: str
    number: str  # the header's Number: A, R, 1, ., ...


@dataclass
class FilterCounts:
    """How many carried ALT alleles each filter removed (or could not check)."""

    non_pass: int = 0  # removed: FILTER not PASS
    non_pass_kept: int = 0  # --include-filtered: kept although not PASS
    low_gq: int = 0
    gq_not_checked: int = 0  # no GQ field or value for the proband
    low_dp: int = 0
    dp_not_checked: int = 0
    af_above_max: int = 0
    af_missing: int = 0  # an AF field is in the header but this allele has no value (kept, no evidence)
    af_fields: list[str] = field(default_factory=list)  # the INFO fields read
    warnings: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "non_pass": self.non_pass,
            "non_pass_kept": self.non_pass_kept,
            "low_gq": self.low_gq,
            "gq_not_checked": self.gq_not_checked,
            "low_dp": self.low_dp,
            "dp_not_checked": self.dp_not_checked,
            "af_above_max": self.af_above_max,
            "af_missing": self.af_missing,
            "af_fields": list(self.af_fields),
        }


def info_fields(reader: Any) -> dict[str, str]:
    """INFO ids of the VCF header -> their Number."""
    out: dict[str, str] = {}
    for line in reader.vcf.header_iter():
        info = line.info()
        if info.get("HeaderType") == "INFO" and "ID" in info:
            out[info["ID"]] = str(info.get("Number", "."))
    return out


def resolve_af_fields(header: dict[str, str], settings: FilterSettings) -> tuple[list[AfField], list[str]]:
    """The AF fields to read and the warnings to give once. Named fields missing from the header are
    warned about; `max_af` given with no usable field is warned about."""
    warnings: list[str] = []
    if not settings.frequency:
        return [], warnings
    fields: list[AfField] = []
    if settings.af_fields:
        for name in settings.af_fields:
            if name in header:
                fields.append(AfField(name, header[name]))
            else:
                warnings.append(f"--af-field {name}: not an INFO field in the VCF header; not used")
    else:
        by_lower = {name.lower(): name for name in header}
        for name in DEFAULT_AF_FIELDS:
            found = by_lower.get(name.lower())
            if found is not None and all(f.name != found for f in fields):
                fields.append(AfField(found, header[found]))
    if not fields and settings.max_af is not None:
        looked = ", ".join(settings.af_fields or DEFAULT_AF_FIELDS)
        warnings.append(
            f"--max-af {settings.max_af:g}: no population AF field in the VCF header (looked for {looked}); "
            "no frequency filter applied"
        )
    return fields, warnings


_NUMBER = re.compile(r"[&|,]")


def _floats(value: Any) -> list[float | None]:
    """cyvcf2's INFO value as a list of floats (None for `.`/unparsable); strings split on `,&|`."""
    if value is None:
        return []
    if isinstance(value, (tuple, list)):
        items: list[Any] = list(value)
    elif isinstance(value, str):
        items = _NUMBER.split(value)
    else:
        items = [value]
    out: list[float | None] = []
    for item in items:
        try:
            number = float(item)
        except (TypeError, ValueError):
            out.append(None)
            continue
        out.append(None if math.isnan(number) or number < 0 else float(f"{number:.6g}"))  # float32 noise
    return out


def _allele_values(value: Any, number: str, alt_index: int, n_alt: int) -> list[float]:
    """This allele's values of one INFO field: Number=A -> [alt_index], R -> [alt_index + 1], one value
    per ALT otherwise too; a single value (Number=1) applies to every ALT; anything else: all values."""
    if isinstance(value, str) and "," in value and number not in ("1",):
        pieces = value.split(",")  # a String field: per-ALT pieces, each maybe `a&b`
        if len(pieces) == n_alt:
            return [v for v in _floats(pieces[alt_index]) if v is not None]
        if len(pieces) == n_alt + 1 and number == "R":
            return [v for v in _floats(pieces[alt_index + 1]) if v is not None]
    values = _floats(value)
    if number == "R" and len(values) == n_alt + 1:
        picked = [values[alt_index + 1]]
    elif len(values) == n_alt and n_alt > 1 and number != "1":
        picked = [values[alt_index]]
    else:
        picked = values
    return [v for v in picked if v is not None]


def allele_frequency(
    variant: Any, alt_index: int, n_alt: int, fields: list[AfField]
) -> tuple[float | None, str]:
    """(the max AF over `fields` for this ALT, the field that gave it); (None, '') when none has a value."""
    best: tuple[float | None, str] = (None, "")
    for f in fields:
        try:
            value = variant.INFO.get(f.name)
        except (KeyError, ValueError, TypeError):  # a malformed value: no value
            continue
        for v in _allele_values(value, f.number, alt_index, n_alt):
            if best[0] is None or v > best[0]:
                best = (v, f.name)
    return best


def max_af_for(modes: set[str] | frozenset[str], settings: FilterSettings) -> float:
    """The AF threshold for an allele of a gene with these modes of inheritance."""
    if settings.max_af is not None:
        return settings.max_af
    if modes and set(modes) <= DOMINANT_ONLY_MODES:
        return DOMINANT_MAX_AF
    return RECESSIVE_MAX_AF


def frequency_factor(af: float | None) -> float:
    """Exomiser's variant frequency score (1.13533 - 0.13533 * exp(AF in percent), 1 for AF 0 or
    missing), kept >= FREQUENCY_FLOOR: 1 at 0, 0.98 at 0.1%, 0.77 at 1%, 0.135 at 2%."""
    if af is None or af <= 0:
        return 1.0
    percent = af * 100.0
    if percent > 2.0:
        return FREQUENCY_FLOOR
    return max(1.13533 - 0.13533 * math.exp(percent), FREQUENCY_FLOOR)


def failed_filter(variant: Any) -> str:
    """The record's FILTER when it is not PASS or `.` (e.g. 'LowQual;q10'), else ''."""
    value = variant.FILTER
    return "" if value in (None, "", "PASS", ".") else str(value)
