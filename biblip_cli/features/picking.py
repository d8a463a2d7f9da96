"""Which transcripts' effects an allele reports: all (VEP's default), `--canonical-only`, `--pick`.

`--pick` keeps one effect per allele, chosen in this order (docs/output.md; VEP's --pick_allele order
restricted to what a GTF carries): MANE Select, then Ensembl canonical, then the most severe
consequence, then the longest transcript, then the first in genomic order.
"""

from __future__ import annotations

from biblip_cli.records import SO_TERMS, GeneEffect

_SEVERITY = {term: i for i, term in enumerate(SO_TERMS)}


def pick_key(effect: GeneEffect) -> tuple[int, int, int, int]:
    severity = _SEVERITY.get(effect.consequences[0], 99) if effect.consequences else 99
    return (0 if effect.mane_select else 1, 0 if effect.canonical else 1, severity, -effect.transcript_length)


def select_effects(
    effects: list[GeneEffect], *, pick: bool = False, canonical_only: bool = False
) -> list[GeneEffect]:
    """The effects to report, in their order (most severe first); [] reads as intergenic."""
    chosen = [e for e in effects if e.canonical] if canonical_only else effects
    if pick and chosen:
        return [min(chosen, key=pick_key)]  # min keeps the first of equals
    return chosen


def one_per_gene(effects: list[GeneEffect]) -> list[GeneEffect]:
    """The model's view: one effect per gene (its pick among the gene's transcripts), in the order of
    the genes' first effects; the same list when every gene has one transcript (the shared GTF)."""
    genes = [e.gene for e in effects]
    if len(set(genes)) == len(genes):
        return effects
    best: dict[str, GeneEffect] = {}
    for effect in effects:
        if effect.gene not in best or pick_key(effect) < pick_key(best[effect.gene]):
            best[effect.gene] = effect
    return [best[g] for g in dict.fromkeys(genes)]
