"""Training items -> model inputs: protein-level items through build_protein, genomic ones annotated first."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from biblip_cli.training.example_set import VariantItem


class Featurizer:
    """Items -> VariantInputs (protein-level items via build_protein, genomic via annotate + build)."""

    def __init__(self, bundle: Any, builder: Any) -> None:
        self.bundle, self.builder = bundle, builder
        self._annotations: dict[str, Any] = {}

    def __call__(self, items: list[VariantItem]):
        from biblip_cli.features.consequence import annotate_allele
        from biblip_cli.features.inputs import VariantInputs

        prot = [i for i, it in enumerate(items) if it.allele is None]
        geno = [i for i, it in enumerate(items) if it.allele is not None]
        parts, order = [], prot + geno
        if prot:
            parts.append(self.builder.build_protein([items[i].protein for i in prot]))
        if geno:
            anns = []
            for i in geno:
                key = items[i].key
                if key not in self._annotations:
                    self._annotations[key] = annotate_item(self.bundle, items[i], annotate_allele)
                anns.append(self._annotations[key])
            parts.append(self.builder.build(anns, [items[i].gene for i in geno]))
        x = parts[0] if len(parts) == 1 else VariantInputs.cat(parts)
        return x.select(torch.as_tensor(np.argsort(order)))


def annotate_item(bundle: Any, item: VariantItem, annotate_allele: Any) -> Any:
    """A variant's spine annotation; an enhancer element's marker (ALT = REF) is taken as an annotated
    position with no change, so the builder still adds the genes whose TSS is near it (and its DNA)."""
    from biblip_cli.records import AlleleAnnotation

    if item.protein is None and item.allele.ref == item.allele.alt:
        return AlleleAnnotation(item.allele, [], "ok", note="element marker (no change)")
    return annotate_allele(bundle, item.allele)
