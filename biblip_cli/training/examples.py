"""Training and evaluation examples: which variants, which texts, which split.

Why one module: the split rule and the texts must be the same for `biblip train` and
`biblip evaluate`, and both must be reproducible from the checkpoint's metadata alone. The records
(VariantItem, Example, ExampleSet) are in example_set.py, the words (instructions, answers, describe
texts) in instructions.py.

Splits are by gene, fixed, independent of the seed:
  * a gene on a held-out chromosome goes to its chromosome's split (`TEST_CHROMS`, `VAL_CHROMS`);
  * every other gene goes by the first 4 bytes of sha1(symbol): < 80% train, < 90% val, else test.
Every example is keyed by the gene it is about (the asked-about gene for enhancer pairs), so no
gene of val/test is ever seen in training, whatever the example kind.

Example kinds (`Example.kind`):
  pathogenicity  "is it pathogenic or benign" -> " pathogenic" / " benign" (uncertain: no loss)
  describe       "describe the variant" -> a short annotation text (consequence, gene, change,
                 gene name, clinical label, a few gene-linked HPO phenotypes)
  phenotype      "could this variant cause <terms>?" -> yes (pathogenic + the gene's own terms),
                 no (pathogenic + an unrelated gene's terms; benign + its gene's terms)
  regulates      "does this element regulate <gene>?" (CRISPRi pairs; Fulco 2019 genes and loci
                 removed so that file stays a clean evaluation set)
Inputs never carry the label: the `disease_*`/`omim_ids` columns of the labels file are never read
into an item; only answers (targets) contain the clinical label.
"""

from __future__ import annotations

import hashlib
import logging
import random
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from biblip_cli.errors import BiblipError
from biblip_cli.features.elements import element_allele
from biblip_cli.io.datasets import EnhancerPair, normalise_chrom, read_labels, read_pairs
from biblip_cli.io.textfiles import sha256_file
from biblip_cli.model.prompts import phenotype_words
from biblip_cli.model.texts import gene_phenotypes
from biblip_cli.records import Allele, ProteinVariant
from biblip_cli.training.describe_head import describe_target
from biblip_cli.training.example_set import Example, ExampleSet, VariantItem
from biblip_cli.training.instructions import (
    ANSWERS,
    MAX_PHENOTYPES,
    describe_text,
    enhancer_text,
    instruction,
    instruction_templates,
)
from biblip_cli.training.splits import gene_split

log = logging.getLogger(__name__)

#: columns of the labels file that nearly give the label away: never model inputs
LEAKY_COLUMNS = ("disease_ids", "disease_names", "omim_ids")
# Default data files, relative to a data folder laid out as ../shared/data (see DATA.md).
DATA_FILES = {
    "labels": "labels/protein_variants.tsv.gz",
    "crispr": "enhancers/crispr_K562_training.GRCh38.tsv.gz",
    "fulco": "enhancers/Fulco2019_K562.GRCh38.tsv.gz",
}
PHENOPACKETS = "cases/phenopackets.tsv.gz"  # optional (phenopacket_examples): used where present


def _pick(key: str, pool: list[str], n: int) -> list[str]:
    """n items of pool chosen by a hash of key (deterministic, seed-independent)."""
    if len(pool) <= n:
        return list(pool)
    rng = random.Random(int(hashlib.sha1(key.encode()).hexdigest()[:12], 16))
    return rng.sample(pool, n)


# --- building --------------------------------------------------------------------------------------


def _gene_chrom(bundle: Any, knowledge: dict[str, Any], gene: str) -> str:
    tx = bundle.transcripts.by_gene(gene) if bundle is not None else None
    if tx is not None:
        return normalise_chrom(tx.chrom)
    know = knowledge.get(gene)
    return normalise_chrom(getattr(know, "chromosome", "") or "") if know is not None else ""


@dataclass(frozen=True)
class HeldOutPairs:
    """Genes and loci of an evaluation pairs file (Fulco 2019): pairs touching them never train anything."""

    genes: frozenset[str]
    loci: dict[str, list[tuple[int, int]]]

    @classmethod
    def read(cls, path: Path) -> HeldOutPairs:
        loci: dict[str, list[tuple[int, int]]] = {}
        pairs = read_pairs(Path(path), valid_only=False)
        for p in pairs:
            loci.setdefault(p.chrom, []).append((p.start0, p.end0))
        return cls(frozenset(p.gene for p in pairs), loci)

    def reason(self, pair: EnhancerPair) -> str | None:
        """Why `pair` must be excluded ("crispr_fulco_gene" / "crispr_fulco_locus"), or None."""
        if pair.gene in self.genes:
            return "crispr_fulco_gene"
        if any(s < pair.end0 and pair.start0 < e for s, e in self.loci.get(pair.chrom, ())):
            return "crispr_fulco_locus"
        return None


def _genomic_allele(bundle: Any, pv: ProteinVariant) -> Allele | None:
    """First SNV giving the protein change where the bundle has the gene's sequence, else None."""
    if bundle is None or pv.gene not in bundle.proteins:
        return None
    try:
        from biblip_cli.features.consequence import protein_variant_to_alleles
    except ImportError:
        return None
    try:
        alleles = protein_variant_to_alleles(bundle, pv)
    except BiblipError:
        return None
    return alleles[0] if alleles else None


def build_examples(
    bundle: Any,
    labels_path: Path | None,
    crispr_path: Path | None = None,
    fulco_path: Path | None = None,
    genomic: bool = True,
    phenopackets_path: Path | None = None,
) -> ExampleSet:
    """All items and examples from the labels and enhancer files, with the bundle's gene knowledge;
    `phenopackets_path` adds real patients' phenotype questions (`training/phenopacket_examples.py`)."""
    knowledge: dict[str, Any] = bundle.knowledge if bundle is not None else {}
    chrom_of: dict[str, str] = {}

    def split_of(gene: str) -> str:
        if gene not in chrom_of:
            chrom_of[gene] = _gene_chrom(bundle, knowledge, gene)
        return gene_split(gene, chrom_of[gene])

    templates = instruction_templates()
    items: list[VariantItem] = []
    examples: list[Example] = []
    sources: dict[str, dict[str, str]] = {}
    excluded: Counter[str] = Counter()
    # genes with phenotypes, for "unrelated gene" negatives: sorted for determinism
    pheno_sets = {g: set(gene_phenotypes(k)) for g, k in knowledge.items()}
    pheno_genes = sorted(g for g, terms in pheno_sets.items() if len(terms) >= MAX_PHENOTYPES)

    if labels_path is not None:
        sources["labels"] = {"path": str(labels_path), "sha256": sha256_file(Path(labels_path))}
        for lv in read_labels(Path(labels_path), known_only=True):
            pv, label = lv.variant, lv.label
            split = split_of(pv.gene)
            know = knowledge.get(pv.gene)
            own_terms = gene_phenotypes(know)
            key = f"{pv.gene}:{pv.hgvsp}"
            desc_terms = _pick(key, own_terms, MAX_PHENOTYPES)
            text = describe_text(pv, label, know, desc_terms)
            y = {"pathogenic": 1, "benign": 0}.get(label)
            forms: list[VariantItem] = [
                VariantItem(key, pv.gene, split, protein=pv, label=y, description=text)
            ]
            allele = _genomic_allele(bundle, pv) if genomic else None
            if allele is not None:
                forms.append(
                    VariantItem(f"{key}@{allele.key}", pv.gene, split, pv, allele, y, description=text)
                )
            # the describe answer in the grammar's wordings (model/describe.py), one per variant; uncertain
            # variants get none: the grammar states pathogenic or benign
            answer = describe_target(pv, label, know, random.Random(key)) if y is not None else None
            for item in forms:
                items.append(item)
                if answer is not None:
                    examples.append(
                        Example("describe", item, instruction("describe", templates), " " + answer)
                    )
                if y is not None:
                    examples.append(
                        Example(
                            "pathogenicity",
                            item,
                            instruction("pathogenicity", templates),
                            ANSWERS["pathogenicity"][y],
                            y,
                        )
                    )
                if y is None or not own_terms:
                    continue
                examples += _phenotype_examples(
                    item, key, pv.gene, y, own_terms, templates, pheno_sets, pheno_genes
                )

    if phenopackets_path is not None:
        _add_phenopacket_examples(
            bundle, Path(phenopackets_path), split_of, templates, items, examples, sources
        )
    if crispr_path is not None:
        _add_pair_examples(bundle, crispr_path, fulco_path, templates, items, examples, sources, excluded)
    result = ExampleSet(items, examples, sources, dict(excluded))
    result.check_disjoint()
    return result


def _add_phenopacket_examples(
    bundle: Any,
    path: Path,
    split_of: Any,
    templates: dict[str, str],
    items: list[VariantItem],
    examples: list[Example],
    sources: dict[str, dict[str, str]],
) -> None:
    from biblip_cli.features.phenotype import HpoOntology
    from biblip_cli.io.case_records import read_case_records
    from biblip_cli.training.phenopacket_examples import phenopacket_examples

    if bundle is None:
        log.warning("phenopackets not used: no bundle to word the terms with")
        return
    try:
        hpo = HpoOntology.from_bundle(bundle)
    except BiblipError as err:  # a bundle without HPO files: the cases cannot be worded
        log.warning("phenopackets not used: %s", err.one_line())
        return
    found, new, counts = phenopacket_examples(read_case_records(path), hpo, split_of, templates)
    known = {item.key for item in items}
    items += [item for item in found if item.key not in known]
    examples += new
    sources["phenopackets"] = {
        "path": str(path),
        "sha256": sha256_file(path),
        **{k: str(v) for k, v in counts.items()},
    }
    log.info("phenopackets: %s", counts)


def _phenotype_examples(
    item: VariantItem,
    key: str,
    gene: str,
    y: int,
    own_terms: list[str],
    templates: dict[str, str],
    pheno_sets: dict[str, set[str]],
    pheno_genes: list[str],
) -> list[Example]:
    """A labelled variant's phenotype questions: its gene's own terms, and (pathogenic) an unrelated gene's."""
    examples: list[Example] = []
    if y == 1:
        terms = _pick(key + "|q", own_terms, MAX_PHENOTYPES)
        ask = phenotype_words(terms)
        examples.append(
            Example("phenotype", item, instruction("phenotype", templates, phenotypes=ask), " yes", 1)
        )
        other = _unrelated_gene(key, gene, pheno_sets, pheno_genes)
        if other is not None:
            terms = _pick(key + "|n", sorted(pheno_sets[other]), MAX_PHENOTYPES)
            ask = phenotype_words(terms)
            examples.append(
                Example(
                    "phenotype",
                    item,
                    instruction("phenotype", templates, phenotypes=ask),
                    " no",
                    0,
                )
            )
    else:
        terms = _pick(key + "|q", own_terms, MAX_PHENOTYPES)
        ask = phenotype_words(terms)
        examples.append(
            Example("phenotype", item, instruction("phenotype", templates, phenotypes=ask), " no", 0)
        )
    return examples


def _add_pair_examples(
    bundle: Any,
    crispr_path: Path,
    fulco_path: Path | None,
    templates: dict[str, str],
    items: list[VariantItem],
    examples: list[Example],
    sources: dict[str, dict[str, str]],
    excluded: Counter[str],
) -> None:
    """Items and "regulates" examples of the CRISPRi pairs, less those touching the held-out Fulco pairs."""
    sources["crispr"] = {"path": str(crispr_path), "sha256": sha256_file(Path(crispr_path))}
    held_out = HeldOutPairs(frozenset(), {})
    if fulco_path is not None:
        sources["fulco_excluded"] = {"path": str(fulco_path), "sha256": sha256_file(Path(fulco_path))}
        held_out = HeldOutPairs.read(Path(fulco_path))
    for pair in read_pairs(Path(crispr_path)):
        reason = held_out.reason(pair)
        if reason is not None:
            excluded[reason] += 1
            continue
        split = gene_split(pair.gene, pair.chrom)  # element and gene share the chromosome (cis pairs)
        text = enhancer_text(pair)
        allele = element_allele(bundle, pair.chrom, pair.start0, pair.end0)
        key = f"{pair.gene}|{pair.chrom}:{pair.start0}-{pair.end0}"
        item = VariantItem(
            key, pair.gene, split, allele=allele, regulates=int(pair.regulated), description=text
        )
        items.append(item)
        y = int(pair.regulated)
        examples.append(
            Example(
                "regulates",
                item,
                instruction("regulates", templates, gene=pair.gene),
                ANSWERS["regulates"][y],
                y,
            )
        )


def _unrelated_gene(key: str, gene: str, pheno_sets: dict[str, set[str]], pool: list[str]) -> str | None:
    """A gene sharing no phenotype with `gene`, picked by hash of key (deterministic)."""
    if not pool:
        return None
    start = int(hashlib.sha1(key.encode()).hexdigest()[:8], 16) % len(pool)
    for step in range(min(len(pool), 50)):
        cand = pool[(start + step * 7919) % len(pool)]
        if cand != gene and not pheno_sets[gene] & pheno_sets[cand]:
            return cand
    return None


def input_texts(item: VariantItem, knowledge: dict[str, Any]) -> list[str]:
    """The texts an item's inputs are built from (the gene-level knowledge snippets): for leakage tests."""
    from biblip_cli.features.text import gene_snippets

    return gene_snippets(knowledge.get(item.gene))


def iter_batches(n: int, batch_size: int, order: Iterable[int]) -> Iterable[list[int]]:
    buf: list[int] = []
    for i in order:
        buf.append(i)
        if len(buf) == batch_size:
            yield buf
            buf = []
    if buf:
        yield buf
