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

import json
import logging
import math
import random
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from biblip_cli.errors import BiblipError, UsageError
from biblip_cli.features.inputs import MAX_GENES
from biblip_cli.training.checkpoint import (
    LOG_FILE,
    STATE_FILE,
    append_log,
    checkpoint_metadata,
    platt,
    read_state,
    write_state,
)
from biblip_cli.training.example_set import Example, ExampleSet, VariantItem
from biblip_cli.training.featurize import Featurizer
from biblip_cli.training.instructions import ANSWERS
from biblip_cli.training.losses import stage1_losses
from biblip_cli.training.options import RECIPES, TrainOptions, load_examples
from biblip_cli.training.schedule import lr_at, plan_stage2, stream_indices, stream_salt, training_genes

log = logging.getLogger(__name__)

STAGE1_SHARE = 0.3  # of the time left after setup, under --max-minutes
EVAL_RESERVE_S = 150.0  # kept for the final validation + calibration under --max-minutes


def _seed_all(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


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
        from biblip_cli.model.llm import FrozenLLM
        from biblip_cli.model.llm_loading import resolve_device

        opts = self.opts
        _seed_all(opts.seed)
        self.device = resolve_device(opts.device)
        self.bundle = Bundle.open(opts.bundle)
        if examples is None:
            examples = load_examples(self.bundle, opts.data)
        examples.check_disjoint()
        self.examples = examples
        if text_embedder is None:
            from biblip_cli.features.gene_texts import bundle_text_embedder
            from biblip_cli.model.weights import default_text_encoder_dir

            enc_dir = opts.text_encoder_dir or default_text_encoder_dir()
            text_embedder = bundle_text_embedder(self.bundle, enc_dir)  # the bundle's gene texts first
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
        plan = plan_stage2(examples, self.train_genes, r.mix, opts.seed, self.stage2_steps)
        self.pools, self.regulates_groups = plan.pools, plan.regulates_groups
        self.schedule, self.schedule_pos = plan.schedule, plan.schedule_pos
        val = [it for it in examples.items_of("val") if it.label is not None]
        pick = np.random.default_rng([opts.seed, 9]).permutation(len(val))[: r.eval_items]
        self.val_items = [val[i] for i in sorted(pick)]
        log.info("text: embedding gene knowledge and annotation texts (cached under the text cache)")
        self._precompute()

    def _precompute(self) -> None:
        """Embed every gene's knowledge and every text the planned steps touch, once, up front."""
        from biblip_cli.features.text import TextEmbedder
        from biblip_cli.progress import RunProgress

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
        self.builder.precompute_genes(genes)  # from the bundle's text_embeddings where it has them
        texts = sorted({it.description for it in used.values()})
        if isinstance(self.text, TextEmbedder):  # ~40k annotation texts on a first run: show progress
            todo = [t for t in texts if t and t not in self.text]
            with RunProgress(
                "embedding annotation texts", len(todo), unit="texts", transient=False,
                quiet=not self.opts.progress or not todo,
            ) as bar:  # fmt: skip
                self.text.precompute(todo, lambda done, _total: bar.update(done))
        elif hasattr(self.text, "precompute"):
            self.text.precompute(texts)

    # -- state ------------------------------------------------------------------------------------
    def save_state(self, stage: int, step: int, optimizer: torch.optim.Optimizer) -> None:
        state = {
            "stage": stage,
            "step": step,
            "model": self.model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "torch_rng": torch.get_rng_state(),
            "elapsed": self.elapsed(),
            "stage_stats": json.dumps(self.stage_stats),
        }
        write_state(self.out, state)

    def load_state(self) -> dict[str, Any] | None:
        state = read_state(self.out, self.device)
        if state is None:
            return None
        self.model.load_state_dict(state["model"])
        self.elapsed_before = float(state["elapsed"])
        self.stage_stats = json.loads(state["stage_stats"])
        return state

    def elapsed(self) -> float:
        return self.elapsed_before + time.monotonic() - self.t0

    def log_event(self, **record: Any) -> None:
        append_log(self.out, record)

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
            "lm": self.llm.lm_loss(
                self.model.describe_prefix(z) if kind == "describe" else self.model.prefix(z),
                instruction,
                targets,
                add_eos=kind == "describe",
            )
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
            group = groups[stream_indices(len(groups), 1, pos, self.opts.seed, stream_salt(kind))[0]]
            order = np.random.default_rng([self.opts.seed, stream_salt(kind), pos]).permutation(len(group))
            return [pool[group[i]] for i in order[: self.batch2]]
        size = self.batch2 if kind == "pathogenicity" else max(1, self.batch2 // 2)
        return [pool[i] for i in stream_indices(len(pool), size, pos, self.opts.seed, stream_salt(kind))]

    def run_stage(self, stage: int, total: int, start_step: int, optimizer) -> bool:
        """Run steps start_step..total-1; False if interrupted by stop_after_steps (state saved for --resume).
        Progress: a rich bar on a terminal, else a log line every ~10 s (step/total, loss, steps/s, ETA)."""
        from biblip_cli.progress import RunProgress

        with RunProgress(
            f"train stage {stage}", total, unit="steps", initial=start_step, transient=False,
            quiet=not self.opts.progress,
        ) as progress:  # fmt: skip
            return self._run_steps(stage, total, start_step, optimizer, progress)

    def _run_steps(self, stage: int, total: int, start_step: int, optimizer, progress: Any) -> bool:
        base = self.recipe.lr1 if stage == 1 else self.recipe.lr2
        self.model.train()
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
            progress.update(step + 1, note=f"loss {np.mean(window[-20:]):.3f}, {rate:.1f} ex/s")
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
        from biblip_cli.training.instructions import instruction

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
            if not self.run_stage(s, total, start, optimizer):
                return None
            self.metrics = self.evaluate()
            self.log_event(event="eval", stage=s, step=total, **self.metrics)
            if s == 1:
                self.save_state(2, 0, self._optimizer(self.recipe.lr2))
        return self.finish()

    def finish(self) -> Path:
        metrics = getattr(self, "metrics", None) or self.evaluate()
        labels, scores = getattr(self, "_val_llm", (np.zeros(0), np.zeros(0)))
        a, b = platt(scores, labels)
        ca, cb = platt(*getattr(self, "_val_cheap", (np.zeros(0), np.zeros(0)))[::-1])
        metadata = checkpoint_metadata(self, metrics, (a, b, len(labels)), (ca, cb))
        self.log_event(event="final", **metrics, calibration={"a": a, "b": b}, wall_time_s=self.elapsed())
        self.model.save_pretrained(self.out, metadata)
        shutil.rmtree(self.out / "last", ignore_errors=True)  # finished: the resume state (~50 MB) goes
        return self.out


def train(opts: TrainOptions) -> Path | None:
    """The `biblip train` task: set up, run both stages (resuming if asked), save the checkpoint."""
    trainer = Trainer(opts)
    trainer.setup()
    return trainer.train()
