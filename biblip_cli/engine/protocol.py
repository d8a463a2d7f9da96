"""What commands, ranking and evaluation may ask of a model engine: `engine.Engine` satisfies it, and so do
the tests' fakes. No torch here, so `--no-model` paths can name the type without loading the model."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np

from biblip_cli.records import AlleleAnnotation, ProteinVariant

Variants = Sequence[AlleleAnnotation | ProteinVariant]


@runtime_checkable
class VariantEngine(Protocol):
    #: the checkpoint's metadata.json (splits, calibration, target_prior, inference policy)
    metadata: dict[str, Any]
    #: whether a frozen LLM is loaded (the LLM-alone baselines and generation need one)
    has_llm: bool

    def pathogenicity(self, variants: Variants) -> np.ndarray:
        """Calibrated probability per variant (NaN outside the checkpoint's pathogenicity domain)."""
        ...

    def reported_pathogenicity(self, variants: Variants) -> np.ndarray:
        """The probability `biblip annotate` reports (the checkpoint names head or LLM)."""
        ...

    def cheap_pathogenicity(self, variants: Variants) -> np.ndarray:
        """The Q-former head's probability (no LLM)."""
        ...

    def explain(self, variants: Variants) -> list[str]:
        """The `--explain` text: the looked-up facts, then the generated description, each labelled."""
        ...

    def explain_parts(self, variants: Variants) -> list[tuple[str, str]]:
        """(looked-up facts, generated description) per variant."""
        ...

    def describe(self, variants: Variants) -> list[Any]:
        """Descriptions generated from the describe prefix alone (`model.describe.DescribeFields`)."""
        ...

    def phenotype_match(self, variants: Sequence[AlleleAnnotation], phenotypes: list[str]) -> np.ndarray:
        """Log-odds that each variant explains the phenotypes (names)."""
        ...

    def regulates(self, variants: Sequence[AlleleAnnotation], genes: Sequence[str]) -> np.ndarray:
        """Log-odds that the element carrying variant i regulates genes[i]."""
        ...

    def llm_alone_pathogenicity(self, variants: Sequence[ProteinVariant]) -> np.ndarray | None:
        """Baseline: the frozen LLM without prefix, the variant in words (None without an LLM)."""
        ...

    def llm_alone_describe(
        self, variants: Sequence[ProteinVariant], knowledge: bool = False
    ) -> list[str] | None:
        """Baseline: the describe instruction answered by the frozen LLM alone from the variant (and with
        `knowledge` the gene's knowledge) in words, free text (None without an LLM)."""
        ...

    def llm_alone_fields(
        self, variants: Sequence[ProteinVariant], knowledge: bool = False
    ) -> list[Any] | None:
        """The same baselines decoded with the describe grammar (`DescribeFields`; None without an LLM)."""
        ...
