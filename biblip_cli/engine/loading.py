"""Loading the model engine for a command, with the same messages everywhere.

Kept apart from `engine.py` so that commands import torch only when they need the model
(`annotate --no-model` stays a ~100 MiB process).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from biblip_cli.errors import BiblipError


def load_engine(
    bundle: Any,
    model_dir: str | Path | None,
    llm_dir: str | Path | None,
    text_encoder_dir: str | Path | None,
    device: str,
    *,
    without_model: str,
    **options: Any,
) -> Any:
    """`Engine.load`, with `without_model` (how to run this command without the model) added to every error."""
    try:
        from biblip_cli.engine.engine import Engine
    except ImportError as err:
        raise BiblipError(
            "the model engine is not available in this installation", hint=without_model
        ) from err
    if model_dir is None or not Path(model_dir).is_dir():
        raise BiblipError(
            "no model checkpoint folder here", where=str(model_dir),
            hint=f"pass --model DIR (a Bio-BLIP checkpoint), or {without_model}",
        )  # fmt: skip
    try:
        return Engine.load(bundle, model_dir, llm_dir, text_encoder_dir, device, **options)
    except BiblipError as err:
        hint = "; ".join(h for h in (err.hint, f"or {without_model}") if h)
        raise BiblipError(err.message, where=err.where, hint=hint) from err
