"""The gene split evaluation keeps: the checkpoint's own held-out lists first, then training's rule."""

from __future__ import annotations

from typing import Any

from biblip_cli.errors import BiblipError


class GeneSplits:
    """The split of a gene: the checkpoint's own held-out lists first, then the training split rule."""

    def __init__(self, bundle: Any, metadata: dict[str, Any] | None = None) -> None:
        self.bundle = bundle
        self.listed: dict[str, str] = {}
        source = "split rule of training/examples.py"
        splits_meta = (metadata or {}).get("splits") or (metadata or {})
        for split in ("val", "test"):
            for gene in splits_meta.get(f"{split}_genes", []) or []:
                self.listed[gene] = split
        if self.listed:
            source = "checkpoint metadata (val/test gene lists) + split rule"
        self.source = source
        self._cache: dict[str, str] = {}

    def _chrom(self, gene: str) -> str:
        if self.bundle is None:
            return ""
        try:
            tx = self.bundle.transcripts.by_gene(gene)
            if tx is not None:
                return tx.chrom
            know = self.bundle.knowledge.get(gene)
            return getattr(know, "chromosome", "") or ""
        except BiblipError:
            return ""

    def __call__(self, gene: str, chrom: str = "") -> str:
        if gene in self.listed:
            return self.listed[gene]
        key = f"{gene}|{chrom}"
        if key not in self._cache:
            from biblip_cli.training.splits import gene_split

            self._cache[key] = gene_split(gene, chrom or self._chrom(gene))
        return self._cache[key]

    def keep(self, gene: str, split: str, chrom: str = "") -> bool:
        return split == "all" or self(gene, chrom) == split
