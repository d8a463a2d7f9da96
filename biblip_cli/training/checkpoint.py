"""What a training run writes besides the weights: the resume state, the log, calibration and metadata."""

from __future__ import annotations

import json
import os
import platform
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from biblip_cli.errors import BiblipError
from biblip_cli.training.instructions import ANSWERS

STATE_FILE = "state.pt"
LOG_FILE = "train_log.jsonl"


def write_state(out: Path, state: dict[str, Any]) -> None:
    """`out/last/state.pt`, through a temp file and a rename (an interrupted save keeps the previous one)."""
    last = out / "last"
    last.mkdir(parents=True, exist_ok=True)
    tmp = last / (STATE_FILE + ".tmp")
    torch.save(state, tmp)
    os.replace(tmp, last / STATE_FILE)


def read_state(out: Path, device: torch.device) -> dict[str, Any] | None:
    """The resume state of `out`, None when there is none."""
    path = out / "last" / STATE_FILE
    if not path.is_file():
        return None
    try:
        return torch.load(path, map_location=device, weights_only=True)
    except Exception as err:
        raise BiblipError(
            f"cannot read the resume state ({err})", where=str(path), hint="drop --resume"
        ) from err


def append_log(out: Path, record: dict[str, Any]) -> None:
    """One JSON line in `out/train_log.jsonl`."""
    out.mkdir(parents=True, exist_ok=True)
    with open(out / LOG_FILE, "a") as fh:
        fh.write(json.dumps(record, default=float) + "\n")


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


def bundle_sources(bundle: Any) -> dict[str, dict[str, str]]:
    return {
        f"bundle:{role}": {"path": entry.path, "sha256": entry.sha256, "source": entry.source}
        for role, entry in bundle.manifest.files.items()
        if role in ("fasta", "gtf", "proteins", "knowledge", "hpo_genes")
    }


def instruction_texts() -> dict[str, str]:
    from biblip_cli.training.instructions import instruction_templates

    return instruction_templates()


def checkpoint_metadata(
    trainer: Any, metrics: dict[str, Any], calibration: tuple[float, float, int], cheap: tuple[float, float]
) -> dict[str, Any]:
    """`metadata.json` of a finished run (a `Trainer`): calibrations, splits, sources, recipe, hardware."""
    from biblip_cli import __version__

    a, b, n = calibration
    ca, cb = cheap
    config = trainer.model.config
    return {
        "biblip_version": __version__,
        "preset": trainer.opts.preset,
        "calibration": {"a": a, "b": b, "split": "val", "n": n, "score": "llm_log_odds"},
        "cheap_calibration": {"a": ca, "b": cb, "split": "val", "score": "pathogenicity_logit"},
        "splits": trainer.examples.metadata(),
        "data_sources": {**trainer.examples.sources, **bundle_sources(trainer.bundle)},
        "llm": {"name": config.llm_name, "sha256": config.llm_sha256},
        "text_encoder": {  # by name and fingerprint: a local path means nothing on another machine
            "name": Path(getattr(trainer.text, "model_dir", "")).parent.name or "",
            "fingerprint": getattr(trainer.text, "fingerprint", ""),
        },
        "prompts": {
            "answers": {k: list(v) for k, v in ANSWERS.items()},
            "instructions": instruction_texts(),
        },
        "training": {
            "seed": trainer.opts.seed,
            "stage1_steps": trainer.stage1_steps,
            "stage2_steps": trainer.stage2_steps,
            "batch1": trainer.batch1,
            "batch2": trainer.batch2,
            "recipe": asdict(trainer.recipe),
            "stages": trainer.stage_stats,
            "wall_time_s": round(trainer.elapsed(), 1),
            "hardware": hardware(trainer.device),
        },
        "val_metrics": metrics,
    }
