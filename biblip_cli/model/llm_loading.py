"""Loading the frozen LLM (a local transformers causal-LM folder, no remote code) and the device it runs on."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch

from biblip_cli.errors import BiblipError


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if str(device).startswith("cuda") and not torch.cuda.is_available():
        raise BiblipError(
            "--device cuda asked for, but no CUDA GPU is visible", hint="use --device cpu or auto"
        )
    return torch.device(device)


@contextlib.contextmanager
def oom_as_error() -> Iterator[None]:
    try:
        yield
    except torch.cuda.OutOfMemoryError as err:
        torch.cuda.empty_cache()
        raise BiblipError("the GPU ran out of memory", hint="use a smaller --batch-size") from err


@contextlib.contextmanager
def cpu_threads(n: int | None, device: torch.device) -> Iterator[None]:
    """Cap torch's intra-op threads to `n` for a block (CPU only), then restore the caller's setting.

    Why: a decode step is a few tokens, so every op is a tiny parallel region ending in an OpenMP barrier;
    when another process holds one of the cores, each barrier waits for a scheduler slice and 48 greedy
    steps took 177 s with 2 threads instead of 5.4 s with 1 (docs/benchmarks.md, "Model forward").
    """
    before = torch.get_num_threads()
    if n is None or device.type != "cpu" or n >= before:
        yield
        return
    torch.set_num_threads(max(1, n))
    try:
        yield
    finally:
        torch.set_num_threads(before)


def load_causal_lm(
    directory: str | Path, device: str | torch.device = "cpu", dtype: torch.dtype | None = None
) -> tuple[Any, Any]:
    """(model, tokenizer) of a local causal-LM folder, frozen (eval, no grad) on `device`; see `FrozenLLM.load`."""
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer
    from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING_NAMES

    from biblip_cli.progress import disable_transformers_bars

    disable_transformers_bars()  # no "Loading weights" tqdm bar between our log lines

    directory = Path(directory)
    if not (directory / "config.json").is_file():
        raise BiblipError(
            "not a transformers model folder (no config.json)", where=str(directory),
            hint="pass --llm a local causal-LM folder, or run `biblip models prepare`",
        )  # fmt: skip
    device = resolve_device(device)
    if dtype is None:
        dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    try:
        config = AutoConfig.from_pretrained(directory, local_files_only=True, trust_remote_code=False)
    except (OSError, ValueError, KeyError) as err:
        raise BiblipError(f"cannot read config.json: {err}", where=str(directory)) from err
    architectures = getattr(config, "architectures", None) or []
    generative = any(a.endswith(("ForCausalLM", "LMHeadModel")) for a in architectures)
    if config.model_type not in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES or (architectures and not generative):
        raise BiblipError(
            f"model type {config.model_type!r} is not a causal language model", where=str(directory),
            hint="--llm needs a decoder LM folder (Llama, Qwen, GPT-2, ...), not an encoder such as BERT",
        )  # fmt: skip
    try:
        # CPU: eager attention; for a handful of new tokens over a cached instruction SDPA's flash
        # kernel costs 12% of scoring time and eager 1/10 of that (same results to 1e-4; benchmarks.md)
        attention = {"attn_implementation": "eager"} if device.type == "cpu" else {}
        model = AutoModelForCausalLM.from_pretrained(
            directory, local_files_only=True, trust_remote_code=False, dtype=dtype, **attention
        )
        tokenizer = AutoTokenizer.from_pretrained(directory, local_files_only=True, trust_remote_code=False)
    except (OSError, ValueError) as err:
        raise BiblipError(f"cannot load the LLM: {err}", where=str(directory)) from err
    model.eval().requires_grad_(False)
    with oom_as_error():
        model.to(device)
    return model, tokenizer
