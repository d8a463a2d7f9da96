"""Inference engine: features -> Bio-BLIP -> (frozen LLM) for batches of annotated alleles.

One object per run, so the bundle, the text encoder, the checkpoint and the LLM load once. Every method
takes a list of alleles of any length and works through it in `batch_size` chunks.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from biblip_cli.errors import BiblipError
from biblip_cli.features.gene import COL_QUERY
from biblip_cli.features.inputs import VariantInputs
from biblip_cli.model import prompts
from biblip_cli.model.biblip import BioBlip, read_metadata
from biblip_cli.model.describe import DescribeFields
from biblip_cli.model.describe import describe as describe_fields
from biblip_cli.model.llm import FrozenLLM
from biblip_cli.model.llm_loading import resolve_device
from biblip_cli.model.texts import explain_text, facts_text, knowledge_words
from biblip_cli.records import AlleleAnnotation, ElementActivity, ProteinVariant

log = logging.getLogger(__name__)

EXPLAIN_BATCH = 32  # rows per generation batch


def reported_score(metadata: dict) -> str:
    """The checkpoint's reported pathogenicity score: "head" or "llm" (older checkpoints: "llm")."""
    return "head" if metadata.get("reported_pathogenicity") == "head" else "llm"


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


class Engine:
    """The model behind the commands (satisfies `engine.protocol.VariantEngine`)."""

    def __init__(
        self,
        builder: Any,
        model: BioBlip,
        llm: FrozenLLM | None,
        metadata: dict,
        device: torch.device,
        batch_size: int = 64,
    ) -> None:
        self.builder, self.model, self.llm = builder, model, llm
        self.metadata, self.device, self.batch_size = metadata, device, batch_size
        calibration = metadata.get("calibration") or {}
        self.calibration = (float(calibration.get("a", 1.0)), float(calibration.get("b", 0.0)))
        # the describe grammar's class threshold (scripts/fit_describe_head.py; 0 for older checkpoints)
        self.label_bias = float((metadata.get("describe_head") or {}).get("label_bias", 0.0))
        cheap = metadata.get("cheap_calibration") or {}
        self.cheap_calibration = (float(cheap.get("a", 1.0)), float(cheap.get("b", 0.0)))

    @classmethod
    def load(
        cls,
        bundle: Any,
        model_dir: str | Path,
        llm_dir: str | Path | None = None,
        text_encoder_dir: str | Path | None = None,
        device: str = "auto",
        batch_size: int = 64,
        use_llm: bool = True,
        force: bool = False,
    ) -> Engine:
        """`bundle`: a `Bundle` or its folder. The LLM and text encoder default to the prepared ones.
        Threads are set by the caller (`engine.loading.set_threads`)."""
        from biblip_cli.bundle import Bundle
        from biblip_cli.features.builder import FeatureBuilder
        from biblip_cli.features.gene_texts import bundle_text_embedder
        from biblip_cli.model.weights import default_llm_dir, default_text_encoder_dir, llm_sha256

        if batch_size < 1:
            raise BiblipError(f"--batch-size must be >= 1, got {batch_size}")
        torch_device = resolve_device(device)
        if not isinstance(bundle, Bundle):
            bundle = Bundle.open(bundle)
        text_dir = Path(text_encoder_dir) if text_encoder_dir else default_text_encoder_dir()
        embedder = bundle_text_embedder(bundle, text_dir, device=str(torch_device))  # as `biblip train`
        builder = FeatureBuilder(bundle, embedder)
        model = BioBlip.from_pretrained(model_dir, device=torch_device)
        llm = None
        if use_llm:
            llm_path = Path(llm_dir) if llm_dir else default_llm_dir()
            llm = FrozenLLM.load(llm_path, device=torch_device)
            if llm.hidden_size != model.config.llm_hidden_size:
                raise BiblipError(
                    f"LLM hidden size {llm.hidden_size} != {model.config.llm_hidden_size} the checkpoint was "
                    "trained for", where=str(llm_path),
                    hint=f"use the checkpoint's LLM ({model.config.llm_name}) or a checkpoint trained for this one",
                )  # fmt: skip
            expected = model.config.llm_sha256
            actual = llm_sha256(llm_path)
            if expected and expected != actual:
                if not force:  # the soft prefix was trained against one LLM: another reads it as noise
                    raise BiblipError(
                        f"this LLM (sha256 {actual[:12] or '?'}...) is not the one the checkpoint was trained "
                        f"with ({model.config.llm_name}, sha256 {expected[:12]}...)",
                        where=str(llm_path),
                        hint="pass the checkpoint's LLM with --llm, or --force to run with this one anyway",
                    )
                log.warning(
                    "LLM at %s differs from the one the checkpoint was trained with (--force)", llm_path
                )
        return cls(builder, model, llm, read_metadata(model_dir), torch_device, batch_size)

    # --- building blocks -------------------------------------------------------------------------
    def _batches(self, n: int) -> list[slice]:
        return [slice(i, min(i + self.batch_size, n)) for i in range(0, n, self.batch_size)]

    def inputs(
        self,
        variants: Sequence[AlleleAnnotation | ProteinVariant],
        query_genes: Sequence[str | None] | None = None,
    ) -> VariantInputs:
        """Genomic alleles, or protein-level variants (the labels file): one batch of model inputs."""
        if variants and isinstance(variants[0], ProteinVariant):
            return self.builder.build_protein(list(variants))
        return self.builder.build(list(variants), list(query_genes) if query_genes is not None else None)

    @torch.inference_mode()
    def _z(self, inputs: VariantInputs) -> torch.Tensor:
        return self.model(inputs.to(self.device))

    def _require_llm(self) -> FrozenLLM:
        if self.llm is None:
            raise BiblipError(
                "this needs the LLM, but the engine was loaded without it", hint="drop --no-llm"
            )
        return self.llm

    def _variant_view(self, inputs: VariantInputs) -> VariantInputs:
        """Apply the checkpoint's `inference` policy (metadata.json) to variant-level questions.

        A checkpoint declares which inputs it learned to read: the shipped default saw DNA windows for
        only ~250 training variants and one gene token per variant (protein-level UniProt examples), and
        with DNA and neighbouring-gene tokens its scores keep their ranking but shrink towards 0 (out of
        distribution). `{"dna": false, "context_genes": "query"}` masks those tokens, as in training.
        Target-gene questions keep every candidate gene (they were trained with them).
        """
        policy = self.metadata.get("inference", {})
        if policy.get("dna", True) is False:
            inputs.dna_mask = torch.zeros_like(inputs.dna_mask)
        if policy.get("context_genes") == "query":
            query = inputs.gene_features[..., COL_QUERY] > 0.5
            inputs.gene_mask = inputs.gene_mask & query
        return inputs

    def _map(
        self,
        variants: Sequence[AlleleAnnotation | ProteinVariant],
        per_batch: Callable[[VariantInputs], np.ndarray | list],
        query_genes: Sequence[str | None] | None = None,
        variant_level: bool = True,
    ) -> list:
        out: list = []
        for part in self._batches(len(variants)):
            genes = query_genes[part] if query_genes is not None else None
            inputs = self.inputs(variants[part], genes)
            out.extend(per_batch(self._variant_view(inputs) if variant_level else inputs))
        return out

    @torch.inference_mode()
    def log_odds(self, inputs: VariantInputs, prompt: prompts.Prompt) -> np.ndarray:
        """LLM log-odds of the prompt's first answer against its second, for one batch of inputs."""
        llm = self._require_llm()
        prefix = self.model.prefix(self._z(inputs))
        scores = llm.score(prefix, prompt.instruction, list(prompt.answers), tail=prompt.tail)
        return (scores[:, 0] - scores[:, 1]).numpy().astype(np.float64)

    def in_domain(self, variant: AlleleAnnotation | ProteinVariant) -> bool:
        """Whether the checkpoint's pathogenicity answer means anything for this variant.

        `metadata.json` -> `inference.pathogenicity_domain`: "protein_change" (the shipped default, trained
        on UniProt amino-acid substitutions only) keeps protein-level variants and alleles that are missense
        in some transcript; "all" (or no entry) keeps everything. Intronic, intergenic, UTR and
        synonymous alleles of a protein-trained checkpoint got ~0.6 (an unlearned input, not evidence).
        """
        if self.metadata.get("inference", {}).get("pathogenicity_domain", "all") != "protein_change":
            return True
        if isinstance(variant, ProteinVariant):
            return True
        return any("missense_variant" in eff.consequences for eff in variant.effects)

    def _in_domain_only(
        self, variants: Sequence[AlleleAnnotation | ProteinVariant], score: Callable[[list], np.ndarray]
    ) -> np.ndarray:
        """`score` on the in-domain variants; NaN for the others (never computed: they cost nothing)."""
        out = np.full(len(variants), np.nan, dtype=np.float64)
        keep = [i for i, v in enumerate(variants) if self.in_domain(v)]
        if keep:
            out[keep] = score([variants[i] for i in keep])
        return out

    # --- tasks -----------------------------------------------------------------------------------
    def pathogenicity(self, variants: Sequence[AlleleAnnotation | ProteinVariant]) -> np.ndarray:
        """Calibrated probability that each variant is pathogenic (LLM: " pathogenic" vs " benign");
        NaN outside the checkpoint's domain (`in_domain`)."""
        if self.llm is None:
            return self.cheap_pathogenicity(variants)
        prompt = prompts.pathogenicity_prompt()
        a, b = self.calibration

        def score(part: list) -> np.ndarray:
            raw = self._map(part, lambda x: self.log_odds(x, prompt))
            return _sigmoid(a * np.asarray(raw, dtype=np.float64) + b)

        return self._in_domain_only(variants, score)

    def reported_pathogenicity(self, variants: Sequence[AlleleAnnotation | ProteinVariant]) -> np.ndarray:
        """What `biblip annotate` reports: the score the checkpoint's metadata names
        (`reported_pathogenicity`: "head" = `cheap_pathogenicity`, "llm" = `pathogenicity`), chosen by
        measurement on held-out genes (docs/evaluation.md); "llm" without an LLM falls back to the head."""
        return (
            self.cheap_pathogenicity(variants)
            if reported_score(self.metadata) == "head"
            else self.pathogenicity(variants)
        )

    def cheap_pathogenicity(self, variants: Sequence[AlleleAnnotation | ProteinVariant]) -> np.ndarray:
        """Probability from the Q-former head and the evidence residual (no LLM): the fast path. NaN
        outside the domain."""

        def batch(x: VariantInputs) -> np.ndarray:
            with torch.inference_mode():
                return self.model.pathogenicity_logit(self._z(x), x.to(self.device)).float().cpu().numpy()

        a, b = self.cheap_calibration

        def score(part: list) -> np.ndarray:
            return _sigmoid(a * np.asarray(self._map(part, batch), dtype=np.float64) + b)

        return self._in_domain_only(variants, score)

    def explain(
        self,
        variants: Sequence[AlleleAnnotation | ProteinVariant],
        probabilities: Sequence[float] | None = None,
    ) -> list[str]:
        """`--explain`: 'Looked up: <facts>. Generated: <description>.', each part labelled (model/texts.py)."""
        return [explain_text(f, g) for f, g in self.explain_parts(variants, probabilities)]

    def facts(self, variants: Sequence[AlleleAnnotation], probabilities: Sequence[float]) -> list[str]:
        """The looked-up facts sentence alone (no LLM): what `--explain` writes where the model has no
        pathogenicity to explain."""
        knowledge = self.builder.bundle.knowledge
        return [facts_text(v, float(p), knowledge) for v, p in zip(variants, probabilities, strict=True)]

    def explain_parts(
        self,
        variants: Sequence[AlleleAnnotation | ProteinVariant],
        probabilities: Sequence[float] | None = None,
        facts: Sequence[str] | None = None,
    ) -> list[tuple[str, str]]:
        """(looked-up facts, generated description) per variant. The description is generated from the
        describe prefix alone (`describe`): the facts are not in its prompt. `probabilities` saves
        re-scoring when the caller has them; `facts` replaces the facts sentences (tests)."""
        self._require_llm()
        if facts is None:
            probs = self.pathogenicity(variants) if probabilities is None else probabilities
            facts = self.facts(list(variants), [float(p) for p in probs])
        generated = [d.text() for d in self.describe(variants)]
        return list(zip(facts, generated, strict=True))

    def describe(self, variants: Sequence[AlleleAnnotation | ProteinVariant]) -> list[DescribeFields]:
        """Descriptions decoded from the describe prefix alone (model/describe.py), batch by batch."""
        llm = self._require_llm()
        instruction = prompts.describe_prompt().instruction  # shared by every row: its cache is reused
        out: list[DescribeFields] = []
        step = min(self.batch_size, EXPLAIN_BATCH)  # generation grows a cache per row: bound the memory
        for start in range(0, len(variants), step):
            with torch.inference_mode():
                z = self._z(self._variant_view(self.inputs(variants[start : start + step])))
                out.extend(describe_fields(llm, self.model.describe_prefix(z), instruction, self.label_bias))
        return out

    @property
    def has_llm(self) -> bool:
        return self.llm is not None

    def llm_alone_pathogenicity(self, variants: Sequence[ProteinVariant]) -> np.ndarray | None:
        """Baseline: the same frozen LLM, no prefix, the variant described in words: log-odds pathogenic
        vs benign (None without an LLM)."""
        if self.llm is None:
            return None
        question = prompts.pathogenicity_prompt()
        asked = [prompts.plain_text_prompt(question, v) for v in variants]
        scores = self.llm.score(
            None, [p.instruction for p in asked], list(question.answers), tail=question.tail
        )
        return (scores[:, 0] - scores[:, 1]).numpy()

    def _plain_describe(self, variants: Sequence[ProteinVariant], knowledge: bool) -> list[str]:
        """Per-row describe instructions with the variant (and, with `knowledge`, the gene) in words."""
        know = self.builder.bundle.knowledge
        question = prompts.describe_prompt()
        return [
            prompts.plain_text_prompt(
                question, v, knowledge_words(know.get(_gene_of(v))) if knowledge else ""
            ).instruction
            for v in variants
        ]

    def llm_alone_describe(
        self, variants: Sequence[ProteinVariant], knowledge: bool = False
    ) -> list[str] | None:
        """Baseline: the describe instruction answered by the frozen LLM from the variant in words (and,
        with `knowledge`, the gene's knowledge text in words: retrieval without the model). Free text."""
        if self.llm is None:
            return None
        instructions = self._plain_describe(variants, knowledge)
        return self.llm.generate(None, instructions, max_new_tokens=48, tail=prompts.describe_prompt().tail)

    def llm_alone_fields(
        self, variants: Sequence[ProteinVariant], knowledge: bool = False
    ) -> list[DescribeFields] | None:
        """The same baselines decoded with biblip's grammar (model/describe.py), no prefix."""
        if self.llm is None:
            return None
        return describe_fields(self.llm, None, self._plain_describe(variants, knowledge))

    def phenotype_match(self, variants: Sequence[AlleleAnnotation], phenotypes: list[str]) -> np.ndarray:
        """Log-odds that each variant explains the patient's phenotypes (names, e.g. "Seizure")."""
        prompt = prompts.phenotype_prompt(phenotypes)
        return np.asarray(self._map(variants, lambda x: self.log_odds(x, prompt)), dtype=np.float64)

    def regulates_head(
        self,
        variants: Sequence[AlleleAnnotation],
        genes: Sequence[str],
        activities: Sequence[ElementActivity | None] | None = None,
    ) -> np.ndarray:
        """Logit of the Q-former's regulates head (no LLM) that the element carrying variant i regulates
        genes[i]; `activities[i]` is that element's chromatin activity (its own input token)."""
        if len(genes) != len(variants) or (activities is not None and len(activities) != len(variants)):
            raise ValueError("variants, genes and activities must have the same length")
        out = np.zeros(len(variants), dtype=np.float64)
        for part in self._batches(len(variants)):
            acts = list(activities[part]) if activities is not None else None
            inputs = self.builder.build(list(variants[part]), list(genes[part]), acts)
            with torch.inference_mode():
                out[part] = self.model.regulates_logit(self._z(inputs)).float().cpu().numpy()
        return out

    def regulates(self, variants: Sequence[AlleleAnnotation], genes: Sequence[str]) -> np.ndarray:
        """Log-odds that the element carrying variant i regulates genes[i] (" yes" vs " no").

        Every `batch_size` pairs are one Q-former pass (gene i is the query gene of row i) and one LLM
        forward (`FrozenLLM.score_rows`): the question's shared start is cached once, each gene's name
        once, so a pair costs the prefix and the tail (Nq + 3 tokens) whatever its gene."""
        if len(genes) != len(variants):
            raise ValueError(f"{len(genes)} genes for {len(variants)} variants")
        llm = self._require_llm()
        asked = [prompts.regulates_prompt(gene) for gene in genes]
        out = np.zeros(len(variants), dtype=np.float64)
        for part in self._batches(len(variants)):
            rows = asked[part]
            inputs = self.inputs(variants[part], list(genes[part]))
            with torch.inference_mode():
                prefix = self.model.prefix(self._z(inputs))
                scores = llm.score_rows(
                    prefix, [p.instruction for p in rows], list(rows[0].answers), tail=rows[0].tail
                )
            out[part] = (scores[:, 0] - scores[:, 1]).numpy().astype(np.float64)
        return out


def _gene_of(variant: AlleleAnnotation | ProteinVariant) -> str:
    if isinstance(variant, ProteinVariant):
        return variant.gene
    return variant.effects[0].gene if variant.effects else ""
