"""The training records: items (model inputs), examples (instruction/answer pairs) and the set of them,
with the leakage guard and what the checkpoint's metadata says about its data."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from biblip_cli.errors import BiblipError
from biblip_cli.records import Allele, ProteinVariant
from biblip_cli.training.splits import (
    SPLIT_RULE,
    SPLITS,
    TEST_CHROMS,
    TRAIN_FRACTION,
    VAL_CHROMS,
    VAL_FRACTION,
)


class SplitLeakError(BiblipError):
    """A held-out (val/test) gene also feeds training."""


KINDS = ("pathogenicity", "describe", "phenotype", "regulates")


@dataclass(frozen=True)
class VariantItem:
    """One model input: a protein-level variant (DNA masked) or a genomic allele, about `gene`."""

    key: str
    gene: str
    split: str
    protein: ProteinVariant | None = None
    allele: Allele | None = None
    label: int | None = None  # pathogenicity: 1 pathogenic, 0 benign, None uncertain / not a variant
    regulates: int | None = None  # enhancer items: 1 regulated, 0 not
    description: str = ""  # the describe answer: the VTC/VTM text of stage 1


@dataclass(frozen=True)
class Example:
    """One instruction/answer pair about one item."""

    kind: str
    item: VariantItem
    instruction: str
    answer: str
    label: int | None = None  # binary target where the kind has one

    @property
    def split(self) -> str:
        return self.item.split


@dataclass
class ExampleSet:
    """All items and examples, with the split rule and data sources for the checkpoint's metadata."""

    items: list[VariantItem]
    examples: list[Example]
    sources: dict[str, dict[str, str]] = field(default_factory=dict)
    excluded: dict[str, int] = field(default_factory=dict)

    def of(self, split: str, kind: str | None = None) -> list[Example]:
        return [e for e in self.examples if e.split == split and (kind is None or e.kind == kind)]

    def items_of(self, split: str) -> list[VariantItem]:
        return [i for i in self.items if i.split == split]

    def counts(self) -> dict[str, dict[str, int]]:
        """{split: {kind: n}} plus {split: {"genes": n, "items": n, "genomic_variants": n}}."""
        out: dict[str, dict[str, int]] = {s: {k: 0 for k in KINDS} for s in SPLITS}
        for e in self.examples:
            out[e.split][e.kind] += 1
        for s in SPLITS:
            items = self.items_of(s)
            out[s]["items"] = len(items)
            out[s]["genomic_variants"] = sum(
                1 for i in items if i.allele is not None and i.protein is not None
            )
            out[s]["genes"] = len({i.gene for i in items})
        return out

    def genes(self, split: str) -> list[str]:
        return sorted({i.gene for i in self.items if i.split == split})

    def check_disjoint(self) -> None:
        """The leakage guard: raise `SplitLeakError` if a val/test gene appears in train (also under `python -O`)."""
        train = set(self.genes("train"))
        for split in ("val", "test"):
            overlap = train & set(self.genes(split))
            if overlap:
                raise SplitLeakError(
                    f"{len(overlap)} {split} genes also in train, e.g. {sorted(overlap)[:3]}",
                    hint="a bug in the gene split: every gene must belong to exactly one split",
                )

    def metadata(self) -> dict[str, Any]:
        """What the checkpoint stores about its data: rule, held-out chromosomes, counts, gene lists' hashes."""
        return {
            "rule": SPLIT_RULE,
            "train_fraction": TRAIN_FRACTION,
            "val_fraction": VAL_FRACTION,
            "test_chroms": list(TEST_CHROMS),
            "val_chroms": list(VAL_CHROMS),
            "counts": self.counts(),
            "excluded": dict(self.excluded),
            "gene_lists_sha1": {
                s: hashlib.sha1("\n".join(self.genes(s)).encode()).hexdigest() for s in SPLITS
            },
            "val_genes": self.genes("val"),
            "test_genes": self.genes("test"),
        }


def counts_table(counts: dict[str, dict[str, int]]) -> str:
    """Markdown table of examples per split and kind (model card, logs)."""
    cols = [*KINDS, "items", "genomic_variants", "genes"]
    lines = ["| split | " + " | ".join(cols) + " |", "|---" * (len(cols) + 1) + "|"]
    for split in SPLITS:
        lines.append(f"| {split} | " + " | ".join(str(counts[split].get(c, 0)) for c in cols) + " |")
    return "\n".join(lines)
