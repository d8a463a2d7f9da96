"""`biblip train`: two-stage Bio-BLIP pretraining with a frozen LLM.

Stage 1 (no LLM): variant-text contrastive (VTC, in-batch, learned temperature), variant-text
matching (VTM, hard negatives sampled from the VTC similarities as in BLIP-2) and the cheap
pathogenicity head's BCE. Stage 2: the soft prefix drives the frozen LLM; LM loss on answer tokens
only, over a fixed mix of pathogenicity / phenotype / regulates / describe batches.

Determinism: every step reseeds torch from (seed, stage, step) and draws its batch from a
seed-fixed permutation, so a run resumed from `<out>/last/` after step k continues exactly like an
uninterrupted run. The LLM is loaded frozen (eval, no grad) and never stepped.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import math
import os
import platform
import random
import shutil
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from biblip_cli.errors import BiblipError, UsageError
from biblip_cli.features.inputs import MAX_GENES
from biblip_cli.training.examples import ANSWERS, DATA_FILES, Example, ExampleSet, VariantItem, build_examples

log = logging.getLogger(__name__)

STATE_FILE = "state.pt"
LOG_FILE = "train_log.jsonl"
STAGE2_KINDS = ("pathogenicity", "phenotype", "regulates", "describe")
STAGE1_SHARE = 0.3  # of the time left after setup, under --max-minutes
EVAL_RESERVE_S = 150.0  # kept for the final validation + calibration under --max-minutes


@dataclass
class Recipe:
    """Steps and batch sizes of one preset (chosen so `default` fits < 60 min on 2 CPU cores)."""

    stage1_steps: int
    stage2_steps: int
    batch1: int
    batch2: int
    lr1: float = 1e-3
    lr2: float = 3e-4
    eval_items: int = 512  # val pathogenicity items scored by the cheap head / the LLM
    eval_llm_items: int = 256
    eval_every: int = 0  # steps; 0 = at the end of each stage only
    max_train_genes: int | None = None  # train on the items of this many train genes (text-embedding budget)
    mix: dict[str, float] = field(
        default_factory=lambda: {"pathogenicity": 0.5, "phenotype": 0.2, "regulates": 0.15, "describe": 0.15}
    )


RECIPES = {
    "tiny": Recipe(stage1_steps=6, stage2_steps=4, batch1=8, batch2=4, eval_items=16, eval_llm_items=8),
    "default": Recipe(stage1_steps=800, stage2_steps=600, batch1=64, batch2=16, max_train_genes=2000),
    "large": Recipe(stage1_steps=20000, stage2_steps=8000, batch1=256, batch2=64, lr1=3e-4, lr2=1e-4,
                    eval_items=4096, eval_llm_items=2048, eval_every=2000),
}  # fmt: skip


@dataclass
class TrainOptions:
    out: Path
    bundle: Path
    data: Path | None = None  # folder laid out like ../shared/data (labels/, enhancers/)
    preset: str = "default"
    seed: int = 0
    epochs: float | None = None  # stage 1 passes over the training items (overrides stage1_steps)
    stage1_steps: int | None = None
    stage2_steps: int | None = None
    batch1: int | None = None
    batch2: int | None = None
    resume: bool = False
    device: str = "auto"
    max_minutes: float | None = None
    llm_dir: Path | None = None
    text_encoder_dir: Path | None = None
    save_every_steps: int = 200
    save_every_minutes: float = 5.0
    max_train_genes: int | None = None  # overrides the recipe's
    stop_after_steps: int | None = None  # total steps this call runs (tests: interrupt and resume)
    progress: bool = True
    model_overrides: dict[str, Any] = field(default_factory=dict)
    init_from: Path | None = None  # warm start from an earlier checkpoint (`model.biblip.warm_start`)


# --- data ----------------------------------------------------------------------------------------


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


def stream_indices(n: int, batch: int, step: int, seed: int, salt: int) -> list[int]:
    """Indices of `step`'s batch in an endless stream of seed-fixed permutations of range(n)."""
    out = []
    for p in range(step * batch, step * batch + batch):
        epoch, pos = divmod(p, n)
        out.append(int(_permutation(n, seed, salt, epoch)[pos]))
    return out


@functools.lru_cache(maxsize=16)
def _permutation(n: int, seed: int, salt: int, epoch: int) -> np.ndarray:
    return np.random.default_rng([seed, salt, epoch]).permutation(n)


def lr_at(step: int, total: int, base: float, warmup_frac: float = 0.05) -> float:
    """Linear warm-up then cosine decay to 10%."""
    warm = max(1, int(total * warmup_frac))
    if step < warm:
        return base * (step + 1) / warm
    t = (step - warm) / max(1, total - warm)
    return base * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(t, 1.0))))


def training_genes(examples: ExampleSet, max_genes: int | None, prefer: set[str] | None = None) -> set[str]:
    """The train-split genes used: all (`max_genes` None or 0), or `max_genes` of them: the `prefer`red
    genes first (those with a protein sequence: only they carry the residue-level evidence), then the
    others in sha1 order (a fixed random subset)."""
    import hashlib

    genes = examples.genes("train")
    if max_genes and len(genes) > max_genes:
        preferred = prefer or set()
        genes = sorted(
            genes, key=lambda g: (g not in preferred, hashlib.sha1(f"subset|{g}".encode()).digest())
        )[:max_genes]
    return set(genes)


def _salt(kind: str) -> int:
    return 10 + STAGE2_KINDS.index(kind)


def _seed_all(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


# --- losses --------------------------------------------------------------------------------------


def stage1_losses(
    model, x, text_emb: torch.Tensor, texts: list[str], labels: torch.Tensor
) -> dict[str, torch.Tensor]:
    """VTC + VTM (hard negatives from VTC similarities) + cheap-head BCE on one batch."""
    tokens, mask = model.encode(x)
    z = model.qformer(tokens, mask)
    B = z.shape[0]
    same = torch.tensor([[a == b for b in texts] for a in texts], dtype=torch.bool)
    logits = model.vtc_logits(z, text_emb)  # [B variants, B texts]
    target = same.float() / same.float().sum(1, keepdim=True)
    vtc = 0.5 * (F.cross_entropy(logits, target) + F.cross_entropy(logits.t(), target.t()))
    losses = {"vtc": vtc}
    if B > 1:
        with torch.no_grad():
            weights = F.softmax(logits.float(), dim=1).masked_fill(same, 0) + 1e-6
            weights = weights.masked_fill(same, 0)
            neg_text = torch.multinomial(weights, 1).squeeze(1)  # a hard text for each variant
            neg_var = torch.multinomial(weights.t().contiguous(), 1).squeeze(
                1
            )  # a hard variant for each text
        ok_t = ~same[torch.arange(B), neg_text]
        ok_v = ~same[neg_var, torch.arange(B)]
        all_tokens = torch.cat([tokens, tokens[ok_t], tokens[neg_var[ok_v]]])
        all_mask = torch.cat([mask, mask[ok_t], mask[neg_var[ok_v]]])
        all_text = torch.cat([text_emb, text_emb[neg_text[ok_t]], text_emb[ok_v]])
        vtm_y = torch.cat([torch.ones(B), torch.zeros(int(ok_t.sum()) + int(ok_v.sum()))])
        vtm_logits = model.vtm_logits(all_tokens, all_mask, all_text)
        losses["vtm"] = F.binary_cross_entropy_with_logits(vtm_logits, vtm_y)
    known = labels >= 0
    if bool(known.any()):
        losses["bce"] = F.binary_cross_entropy_with_logits(
            model.pathogenicity_logit(z)[known], labels[known].float()
        )
    return losses


# --- the run -------------------------------------------------------------------------------------


class Trainer:
    def __init__(self, opts: TrainOptions) -> None:
        self.opts = opts
        if opts.preset not in RECIPES:
            raise UsageError(
                f"unknown preset {opts.preset!r}", where="--preset", hint=f"one of {', '.join(RECIPES)}"
            )
        self.recipe = RECIPES[opts.preset]
        self.out = Path(opts.out)
        self.t0 = time.monotonic()
        self.elapsed_before = 0.0
        self.deadline = None if opts.max_minutes is None else self.t0 + 60 * opts.max_minutes
        self.steps_run = 0
        self.stage_stats: dict[str, dict[str, float]] = {}

    # -- setup ------------------------------------------------------------------------------------
    def setup(self, examples: ExampleSet | None = None, text_embedder: Any = None, llm: Any = None) -> None:
        from biblip_cli.bundle import Bundle
        from biblip_cli.features.builder import FeatureBuilder
        from biblip_cli.model.biblip import BioBlip
        from biblip_cli.model.config import BioBlipConfig
        from biblip_cli.model.llm import FrozenLLM, resolve_device

        opts = self.opts
        _seed_all(opts.seed)
        self.device = resolve_device(opts.device)
        self.bundle = Bundle.open(opts.bundle)
        if examples is None:
            data = Path(opts.data) if opts.data else default_data_dir()
            paths = {k: data / v for k, v in DATA_FILES.items()}
            for role, path in paths.items():
                if not path.is_file():
                    raise BiblipError(
                        f"training {role} file not found", where=str(path), hint="pass --data DIR"
                    )
            log.info("building examples from %s", data)
            examples = build_examples(self.bundle, paths["labels"], paths["crispr"], paths["fulco"])
        examples.check_disjoint()
        self.examples = examples
        if text_embedder is None:
            from biblip_cli.features.text import TextEmbedder
            from biblip_cli.model.weights import biblip_home, default_text_encoder_dir

            enc_dir = opts.text_encoder_dir or default_text_encoder_dir()
            text_embedder = TextEmbedder(enc_dir, cache_dir=biblip_home() / "text_cache")
        self.text = text_embedder
        self.builder = FeatureBuilder(self.bundle, text_embedder)
        self.featurize = Featurizer(self.bundle, self.builder)
        if llm is None:
            from biblip_cli.model.weights import default_llm_dir

            llm = FrozenLLM.load(opts.llm_dir or default_llm_dir(), device=self.device)
        self.llm = llm
        self.llm_dir = Path(getattr(llm, "path", opts.llm_dir or ""))
        config = BioBlipConfig.preset(opts.preset, llm_hidden_size=llm.hidden_size, **opts.model_overrides)
        config.llm_name = self.llm_dir.name or config.llm_name
        try:
            from biblip_cli.model.weights import llm_sha256

            config.llm_sha256 = llm_sha256(self.llm_dir) if self.llm_dir.is_dir() else ""
        except (ImportError, OSError):
            pass
        self.model = BioBlip(config).to(self.device)
        if opts.init_from is not None:
            from biblip_cli.model.biblip import warm_start

            for key, what in warm_start(self.model, opts.init_from).items():
                log.info("warm start from %s: %s %s", opts.init_from, key, what)
        r = self.recipe
        self.batch1 = opts.batch1 or r.batch1
        self.batch2 = opts.batch2 or r.batch2
        max_genes = opts.max_train_genes if opts.max_train_genes is not None else r.max_train_genes
        self.train_genes = training_genes(examples, max_genes, prefer=set(self.bundle.proteins))
        self.train_items = [it for it in examples.items_of("train") if it.gene in self.train_genes]
        if not self.train_items:
            raise BiblipError("no training items", where=str(opts.bundle), hint="check --data and the bundle")
        self.stage1_steps = opts.stage1_steps if opts.stage1_steps is not None else r.stage1_steps
        if opts.epochs is not None:
            self.stage1_steps = math.ceil(opts.epochs * len(self.train_items) / self.batch1)
        self.stage2_steps = opts.stage2_steps if opts.stage2_steps is not None else r.stage2_steps
        self.pools = {
            k: [
                e
                for e in examples.of("train", k)
                if e.item.gene in self.train_genes and (e.label is not None or k == "describe")
            ]
            for k in STAGE2_KINDS
        }
        by_instruction: dict[str, list[int]] = {}
        for i, e in enumerate(self.pools["regulates"]):
            by_instruction.setdefault(e.instruction, []).append(i)
        self.regulates_groups = [by_instruction[k] for k in sorted(by_instruction)]
        kinds = [k for k in STAGE2_KINDS if self.pools[k] and r.mix.get(k, 0) > 0]
        w = np.array([r.mix[k] for k in kinds])
        sched_rng = np.random.default_rng([opts.seed, 2])
        self.schedule = [
            kinds[i] for i in sched_rng.choice(len(kinds), size=self.stage2_steps, p=w / w.sum())
        ]
        seen: dict[str, int] = {}
        self.schedule_pos = []  # how many earlier stage-2 steps drew the same kind: its stream position
        for kind in self.schedule:
            self.schedule_pos.append(seen.get(kind, 0))
            seen[kind] = seen.get(kind, 0) + 1
        val = [it for it in examples.items_of("val") if it.label is not None]
        pick = np.random.default_rng([opts.seed, 9]).permutation(len(val))[: r.eval_items]
        self.val_items = [val[i] for i in sorted(pick)]
        log.info("text: embedding gene knowledge and annotation texts (cached under the text cache)")
        self._precompute()

    def _precompute(self) -> None:
        """Embed every gene's knowledge and every text the planned steps touch, once, up front."""
        used = {it.key: it for it in self.val_items}
        n = len(self.train_items)
        for s in range(self.stage1_steps):
            for i in stream_indices(n, self.batch1, s, self.opts.seed, 1):
                used.setdefault(self.train_items[i].key, self.train_items[i])
        for step in range(self.stage2_steps):
            for e in self.stage2_batch(step):
                used.setdefault(e.item.key, e.item)
        genes = {it.gene for it in used.values()}
        for it in used.values():  # enhancer markers: the builder adds the genes with a TSS nearby
            if it.protein is None and it.allele is not None:
                near = self.bundle.transcripts.tss_near(it.allele.chrom, it.allele.start0)
                genes.update(tx.gene for tx, _ in near[:MAX_GENES])
        genes = sorted(genes)
        self.builder.precompute_genes(genes)
        if hasattr(self.text, "precompute"):
            self.text.precompute(sorted({it.description for it in used.values()}))

    # -- state ------------------------------------------------------------------------------------
    def save_state(self, stage: int, step: int, optimizer: torch.optim.Optimizer) -> None:
        last = self.out / "last"
        last.mkdir(parents=True, exist_ok=True)
        state = {
            "stage": stage,
            "step": step,
            "model": self.model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "torch_rng": torch.get_rng_state(),
            "elapsed": self.elapsed(),
            "stage_stats": json.dumps(self.stage_stats),
        }
        tmp = last / (STATE_FILE + ".tmp")
        torch.save(state, tmp)
        os.replace(tmp, last / STATE_FILE)

    def load_state(self) -> dict[str, Any] | None:
        path = self.out / "last" / STATE_FILE
        if not path.is_file():
            return None
        try:
            state = torch.load(path, map_location=self.device, weights_only=True)
        except Exception as err:
            raise BiblipError(
                f"cannot read the resume state ({err})", where=str(path), hint="drop --resume"
            ) from err
        self.model.load_state_dict(state["model"])
        self.elapsed_before = float(state["elapsed"])
        self.stage_stats = json.loads(state["stage_stats"])
        return state

    def elapsed(self) -> float:
        return self.elapsed_before + time.monotonic() - self.t0

    def log_event(self, **record: Any) -> None:
        self.out.mkdir(parents=True, exist_ok=True)
        with open(self.out / LOG_FILE, "a") as fh:
            fh.write(json.dumps(record, default=float) + "\n")

    # -- stages -----------------------------------------------------------------------------------
    def _optimizer(self, lr: float) -> torch.optim.Optimizer:
        decay = [p for n, p in self.model.named_parameters() if p.ndim >= 2]
        no_decay = [p for n, p in self.model.named_parameters() if p.ndim < 2]
        groups = [{"params": decay, "weight_decay": 0.05}, {"params": no_decay, "weight_decay": 0.0}]
        return torch.optim.AdamW(groups, lr=lr, betas=(0.9, 0.98))

    def _step_batch(self, stage: int, step: int) -> tuple[dict[str, torch.Tensor], int]:
        if stage == 1:
            idx = stream_indices(len(self.train_items), self.batch1, step, self.opts.seed, 1)
            items = [self.train_items[i] for i in idx]
            x = self.featurize(items).to(self.device)
            texts = [it.description for it in items]
            emb = torch.as_tensor(self.text.embed(texts), dtype=torch.float32, device=self.device)
            labels = torch.tensor([-1 if it.label is None else it.label for it in items], device=self.device)
            return stage1_losses(self.model, x, emb, texts, labels), len(items)
        kind = self.schedule[step]
        batch = self.stage2_batch(step)
        x = self.featurize([e.item for e in batch]).to(self.device)
        z = self.model(x)
        instructions = [e.instruction for e in batch]
        instruction: str | list[str] = instructions[0] if len(set(instructions)) == 1 else instructions
        targets = [e.answer for e in batch]
        losses = {
            "lm": self.llm.lm_loss(self.model.prefix(z), instruction, targets, add_eos=kind == "describe")
        }
        if kind == "pathogenicity":  # keep the cheap head in step with the changing Q-former
            y = torch.tensor([e.label for e in batch], dtype=torch.float32, device=self.device)
            losses["bce"] = F.binary_cross_entropy_with_logits(self.model.pathogenicity_logit(z), y)
        return losses, len(batch)

    def stage2_batch(self, step: int) -> list[Example]:
        """The examples of stage-2 step `step`. Regulates batches hold pairs of one gene (one shared
        instruction: its KV cache is computed once); phenotype and describe batches are half size
        (per-row instructions / long answers cost more LLM tokens)."""
        kind, pos = self.schedule[step], self.schedule_pos[step]
        pool = self.pools[kind]
        if kind == "regulates":
            groups = self.regulates_groups
            group = groups[stream_indices(len(groups), 1, pos, self.opts.seed, _salt(kind))[0]]
            order = np.random.default_rng([self.opts.seed, _salt(kind), pos]).permutation(len(group))
            return [pool[group[i]] for i in order[: self.batch2]]
        size = self.batch2 if kind == "pathogenicity" else max(1, self.batch2 // 2)
        return [pool[i] for i in stream_indices(len(pool), size, pos, self.opts.seed, _salt(kind))]

    def run_stage(self, stage: int, total: int, start_step: int, optimizer, progress) -> bool:
        """Run steps start_step..total-1; False if interrupted by stop_after_steps (state saved for --resume)."""
        base = self.recipe.lr1 if stage == 1 else self.recipe.lr2
        self.model.train()
        task = progress.add_task(f"stage {stage}", total=total, completed=start_step) if progress else None
        last_save, t_stage, n_ex = time.monotonic(), time.monotonic(), 0
        window: list[float] = []
        stage_end = self.stage_deadline(stage)
        done = 0
        for step in range(start_step, total):
            if self.opts.stop_after_steps is not None and self.steps_run >= self.opts.stop_after_steps:
                self.save_state(stage, step, optimizer)
                return False
            if stage_end is not None and time.monotonic() > stage_end:
                log.warning(
                    "time budget (--max-minutes) ends stage %d after %d of %d steps", stage, step, total
                )
                self.stage_stats.setdefault(str(stage), {})["cut_at_step"] = step
                break
            torch.manual_seed(self.opts.seed * 1_000_003 + stage * 100_003 + step)
            for group in optimizer.param_groups:
                group["lr"] = lr_at(step, total, base)
            losses, n = self._step_batch(stage, step)
            loss = sum(losses.values())
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), 1.0)
            optimizer.step()
            self.steps_run += 1
            done += 1
            n_ex += n
            window.append(float(loss.detach()))
            rate = n_ex / max(time.monotonic() - t_stage, 1e-9)
            if progress:
                progress.update(
                    task,
                    advance=1,
                    description=f"stage {stage} loss {np.mean(window[-20:]):.3f} {rate:.1f} ex/s",
                )
            if step % 25 == 0 or step == total - 1:
                self.log_event(event="train", stage=stage, step=step, lr=optimizer.param_groups[0]["lr"],
                               loss=float(loss.detach()), **{k: float(v.detach()) for k, v in losses.items()}, examples_per_s=rate)  # fmt: skip
            if self.recipe.eval_every and step and step % self.recipe.eval_every == 0:
                self.log_event(event="eval", stage=stage, step=step, **self.evaluate())
                self.model.train()
            if (
                (step + 1) % self.opts.save_every_steps == 0
                or time.monotonic() - last_save > 60 * self.opts.save_every_minutes
            ):
                self.save_state(stage, step + 1, optimizer)
                last_save = time.monotonic()
        stats = self.stage_stats.setdefault(str(stage), {})
        stats["steps"] = stats.get("steps", 0) + done
        stats["seconds"] = stats.get("seconds", 0.0) + time.monotonic() - t_stage
        stats["examples"] = stats.get("examples", 0) + n_ex
        stats["steps_per_s"] = stats["steps"] / max(stats["seconds"], 1e-9)
        return True

    def stage_deadline(self, stage: int) -> float | None:
        """With --max-minutes: stage 1 may use STAGE1_SHARE of the time left, stage 2 the rest minus
        a reserve for the final evaluation; a stage that runs out stops early and training goes on."""
        if self.deadline is None:
            return None
        left = self.deadline - time.monotonic() - EVAL_RESERVE_S
        return time.monotonic() + (STAGE1_SHARE * left if stage == 1 else left)

    # -- evaluation -------------------------------------------------------------------------------
    @torch.no_grad()
    def llm_log_odds(self, items: list[VariantItem], batch: int = 32) -> np.ndarray:
        """log P(' pathogenic') - log P(' benign') from the frozen LLM given the prefix."""
        from biblip_cli.training.examples import instruction

        self.model.eval()
        out = []
        for lo in range(0, len(items), batch):
            x = self.featurize(items[lo : lo + batch]).to(self.device)
            lp = self.llm.score(
                self.model.prefix(self.model(x)), instruction("pathogenicity"), list(ANSWERS["pathogenicity"])
            )
            out.append((lp[:, 1] - lp[:, 0]).float().numpy())
        return np.concatenate(out) if out else np.zeros(0)

    @torch.no_grad()
    def evaluate(self) -> dict[str, float]:
        from biblip_cli.metrics import auroc

        self.model.eval()
        items = self.val_items
        y = np.array([it.label for it in items])
        cheap = []
        for lo in range(0, len(items), 128):
            x = self.featurize(items[lo : lo + 128]).to(self.device)
            cheap.append(self.model.pathogenicity_logit(self.model(x)).float().cpu().numpy())
        metrics = {"val_items": len(items)}
        self._val_cheap = (y, np.concatenate(cheap) if cheap else np.zeros(0))
        if len(set(y.tolist())) == 2:
            metrics["val_auroc_cheap"] = auroc(*self._val_cheap)
            sub = items[: self.recipe.eval_llm_items]
            self._val_llm = (np.array([it.label for it in sub]), self.llm_log_odds(sub))
            if len(set(self._val_llm[0].tolist())) == 2:
                metrics["val_auroc_llm"] = auroc(*self._val_llm)
        return metrics

    # -- main -------------------------------------------------------------------------------------
    def train(self) -> Path | None:
        """Run (or resume) both stages; write the checkpoint to `out` and return it (None if interrupted)."""
        state = self.load_state() if self.opts.resume else None
        if state is not None and self.deadline is not None:  # --max-minutes covers the whole run
            self.deadline -= self.elapsed_before
        if not self.opts.resume and (self.out / "last" / STATE_FILE).exists():
            raise UsageError(
                "the output folder holds a run already",
                where=str(self.out),
                hint="pass --resume or a new --out",
            )
        if state is None and (self.out / LOG_FILE).exists():
            (self.out / LOG_FILE).unlink()
        stage, step = (int(state["stage"]), int(state["step"])) if state else (1, 0)
        progress = _progress() if self.opts.progress else None
        with progress or contextlib.nullcontext():
            for s, total, lr in (
                (1, self.stage1_steps, self.recipe.lr1),
                (2, self.stage2_steps, self.recipe.lr2),
            ):
                if s < stage:
                    continue
                optimizer = self._optimizer(lr)
                if state is not None and s == stage:
                    optimizer.load_state_dict(state["optimizer"])
                    torch.set_rng_state(state["torch_rng"])
                start = step if s == stage else 0
                if not self.run_stage(s, total, start, optimizer, progress):
                    return None
                self.metrics = self.evaluate()
                self.log_event(event="eval", stage=s, step=total, **self.metrics)
                if s == 1:
                    self.save_state(2, 0, self._optimizer(self.recipe.lr2))
        return self.finish()

    def finish(self) -> Path:
        from biblip_cli import __version__

        metrics = getattr(self, "metrics", None) or self.evaluate()
        labels, scores = getattr(self, "_val_llm", (np.zeros(0), np.zeros(0)))
        a, b = platt(scores, labels)
        ca, cb = platt(*getattr(self, "_val_cheap", (np.zeros(0), np.zeros(0)))[::-1])
        config = self.model.config
        metadata = {
            "biblip_version": __version__,
            "preset": self.opts.preset,
            "calibration": {"a": a, "b": b, "split": "val", "n": len(labels), "score": "llm_log_odds"},
            "cheap_calibration": {"a": ca, "b": cb, "split": "val", "score": "pathogenicity_logit"},
            "splits": self.examples.metadata(),
            "data_sources": {**self.examples.sources, **_bundle_sources(self.bundle)},
            "llm": {"name": config.llm_name, "sha256": config.llm_sha256},
            "text_encoder": {  # by name and fingerprint: a local path means nothing on another machine
                "name": Path(getattr(self.text, "model_dir", "")).parent.name or "",
                "fingerprint": getattr(self.text, "fingerprint", ""),
            },
            "prompts": {"answers": {k: list(v) for k, v in ANSWERS.items()}, "instructions": _templates()},
            "training": {
                "seed": self.opts.seed,
                "stage1_steps": self.stage1_steps,
                "stage2_steps": self.stage2_steps,
                "batch1": self.batch1,
                "batch2": self.batch2,
                "recipe": asdict(self.recipe),
                "stages": self.stage_stats,
                "wall_time_s": round(self.elapsed(), 1),
                "hardware": hardware(self.device),
            },
            "val_metrics": metrics,
        }
        self.log_event(event="final", **metrics, calibration={"a": a, "b": b}, wall_time_s=self.elapsed())
        self.model.save_pretrained(self.out, metadata)
        shutil.rmtree(self.out / "last", ignore_errors=True)  # finished: the resume state (~50 MB) goes
        return self.out


# --- helpers -------------------------------------------------------------------------------------


def platt(scores: np.ndarray, labels: np.ndarray, iters: int = 200) -> tuple[float, float]:
    """Fit p = sigmoid(a * s + b) on (scores, labels) by LBFGS; (1, 0) when there is nothing to fit."""
    if len(scores) == 0 or len(set(np.asarray(labels).tolist())) < 2:
        return 1.0, 0.0
    s = torch.as_tensor(scores, dtype=torch.float64)
    y = torch.as_tensor(labels, dtype=torch.float64)
    params = torch.tensor([1.0, 0.0], dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([params], max_iter=iters, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = F.binary_cross_entropy_with_logits(params[0] * s + params[1], y) + 1e-4 * (params**2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    return float(params[0]), float(params[1])


def hardware(device: torch.device) -> dict[str, Any]:
    info = {"platform": platform.platform(), "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(),
            "torch": torch.__version__, "device": str(device), "python": sys.version.split()[0]}  # fmt: skip
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
    return info


def _bundle_sources(bundle: Any) -> dict[str, dict[str, str]]:
    return {
        f"bundle:{role}": {"path": entry.path, "sha256": entry.sha256, "source": entry.source}
        for role, entry in bundle.manifest.files.items()
        if role in ("fasta", "gtf", "proteins", "knowledge", "hpo_genes")
    }


def _templates() -> dict[str, str]:
    from biblip_cli.training.examples import instruction_templates

    return instruction_templates()


def default_data_dir() -> Path:
    """`$BIBLIP_DATA`, else `../shared/data` beside the repository."""
    env = os.environ.get("BIBLIP_DATA")
    if env:
        return Path(env)
    import biblip_cli

    return Path(biblip_cli.__file__).resolve().parent.parent.parent / "shared" / "data"


def _progress():
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    TimeRemainingColumn(), console=Console(stderr=True), transient=False)  # fmt: skip


def train(opts: TrainOptions) -> Path | None:
    """The `biblip train` task: set up, run both stages (resuming if asked), save the checkpoint."""
    trainer = Trainer(opts)
    trainer.setup()
    return trainer.train()
