"""Phenotype terms as users give them (`--phenotype`, `--phenotype-file`, phenopackets) and as they come out
of resolution: the id patterns, `Term`, `ResolvedTerms` (where each term came from, warnings, skips),
`TermMatch` (a patient term's best match in a gene's annotations), and the option/file readers.
The ontology that resolves and compares them is `features/phenotype.HpoOntology`."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from biblip_cli.io.textfiles import read_user_text

HPO_ID = re.compile(r"^HP[:_](\d{1,7})$", re.IGNORECASE)  # ids inside HPO files
USER_HPO_ID = re.compile(r"^HP[:_](\d{7})$", re.IGNORECASE)  # typed by a user: all 7 digits, HP:12 is a typo
ID_WITH_NAME = re.compile(r"^HP[:_](\d{7})\s+\S", re.IGNORECASE)  # "HP:0001250 Seizure" as pasted
LOOKS_LIKE_ID = re.compile(r"^(HP[:_]?)?\s*\d+\S*$|^HP[:_]", re.IGNORECASE)


@dataclass(frozen=True)
class Term:
    """A resolved, current HPO term."""

    id: str  # HP:0001250
    name: str  # Seizure

    def __str__(self) -> str:
        return f"{self.id} {self.name}"


@dataclass
class ResolvedTerms:
    """The patient's terms after validation, with what was changed on the way (for stderr/report)."""

    terms: list[Term]
    warnings: list[str] = field(default_factory=list)  # obsolete ids replaced, ...
    notes: list[str] = field(default_factory=list)  # free text -> term choices
    unknown: list[str] = field(default_factory=list)  # items skipped by resolve_terms_lenient
    excluded: list[Term] = field(default_factory=list)  # terms the patient does NOT have (phenopacket)
    sources: dict[str, list[str]] = field(default_factory=dict)  # term id -> where it came from

    def source_of(self, term: Term) -> str:
        """`--phenotype`, `--phenotype-file`, `phenopacket` or several joined with `+`; '' if unknown."""
        return "+".join(self.sources.get(term.id, []))

    @property
    def ids(self) -> list[str]:
        return [t.id for t in self.terms]

    @property
    def names(self) -> list[str]:
        return [t.name for t in self.terms]


@dataclass(frozen=True)
class TermMatch:
    """How one patient term meets a gene's annotations (the report's "matched terms")."""

    patient: Term
    common: Term | None  # the most informative common ancestor with any of the gene's terms
    gene_term: Term | None  # the gene's annotated term under `common` closest to the patient term
    ic: float  # information content of `common` (0 when nothing in common): the term's similarity share
    patient_ic: float  # the patient term's own IC (the most it can contribute)

    @property
    def annotated(self) -> bool:
        """The patient term itself is annotated to the gene, or a more specific term is."""
        return self.common is not None and self.common.id == self.patient.id


def format_id(index: int) -> str:
    return f"HP:{index:07d}"


def split_phenotype_option(values: Iterable[str]) -> list[str]:
    """`--phenotype` values: each may hold several items separated by `,` or `;`."""
    items: list[str] = []
    for value in values:
        items.extend(part.strip() for part in re.split(r"[,;]", value) if part.strip())
    return items


def read_phenotype_file(path: Path) -> list[str]:
    """One term per line (HP id or name), `#` starts a comment; blank lines ignored."""
    text = read_user_text(Path(path), "phenotype file", hint="use a UTF-8 text file")
    items = []
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            items.append(line.split("\t")[0].strip())
    return items


def plural_variants(query: str) -> list[str]:
    out = []
    if query.endswith("ies"):
        out.append(query[:-3] + "y")
    if query.endswith("es"):
        out.append(query[:-2])
    if query.endswith("s"):
        out.append(query[:-1])
    else:
        out.append(query + "s")
    return out
