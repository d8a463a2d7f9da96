"""Loading the model engine for a command, with the same messages everywhere.

`EngineSpec` is what a command asks for (checkpoint, LLM, text encoder, device, batch size, LLM or not,
threads); `load_engine` is the one way to turn it into an `Engine`, and `set_threads` the one place the
process's torch thread count is set. Kept apart from `engine.py` so that commands import torch only when
they need the model (`annotate --no-model` stays a ~100 MiB process).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from biblip_cli.errors import BiblipError


@dataclass(frozen=True)
class EngineSpec:
    model_dir: str | Path | None
    llm_dir: str | Path | None = None
    text_encoder_dir: str | Path | None = None
    device: str = "auto"
    batch_size: int = 64
    use_llm: bool = True
    threads: int | None = None
    force: bool = False  # run with an LLM whose sha256 differs from the checkpoint's record


def set_threads(threads: int | None) -> None:
    """`torch.set_num_threads(threads)` when given (and torch is installed): the process's one setting.
    (`model.llm_loading.cpu_threads` only lowers it for a decode loop and restores it.)"""
    if threads is None:
        return
    if threads < 1:
        from biblip_cli.errors import UsageError

        raise UsageError(f"--threads must be at least 1, got {threads}", hint="omit it to use every core")
    try:
        import torch
    except ImportError:  # pragma: no cover - the no-model install
        return
    torch.set_num_threads(threads)


def load_engine(bundle: Any, spec: EngineSpec, *, without_model: str) -> Any:
    """`Engine.load` for `spec`, with `without_model` (how to run this command without the model) added
    to every error."""
    try:
        from biblip_cli.engine.engine import Engine
    except ImportError as err:
        raise BiblipError(
            "the model engine is not available in this installation", hint=without_model
        ) from err
    model_dir = spec.model_dir
    if model_dir is None or not Path(model_dir).is_dir():
        raise BiblipError(
            "no model checkpoint folder here", where=str(model_dir),
            hint=f"pass --model DIR (a Bio-BLIP checkpoint), or {without_model}",
        )  # fmt: skip
    set_threads(spec.threads)
    try:
        return Engine.load(
            bundle, model_dir, spec.llm_dir, spec.text_encoder_dir, spec.device,
            batch_size=spec.batch_size, use_llm=spec.use_llm, force=spec.force,
        )  # fmt: skip
    except BiblipError as err:
        hint = "; ".join(h for h in (err.hint, f"or {without_model}") if h)
        raise BiblipError(err.message, where=err.where, hint=hint) from err
    except Exception as err:
        found = _weights_error(err, spec)
        if found is None:
            raise
        raise BiblipError(found[0], where=found[1], hint=f"{found[2]}; or {without_model}") from err


def _pickle_only(folder: Path | None) -> bool:
    return (
        folder is not None
        and folder.is_dir()
        and not any(folder.glob("*.safetensors"))
        and any(folder.glob("*.bin"))
    )


def _weights_error(err: Exception, spec: EngineSpec) -> tuple[str, str, str] | None:
    """(message, where, hint) for the file faults of loading weights, None for anything else (a bug)."""
    import pickle

    name = type(err).__name__
    if name == "SafetensorError":  # safetensors' own type (a corrupt or cut model.safetensors)
        return (
            f"cannot read the checkpoint weights ({err})",
            str(Path(str(spec.model_dir)) / "model.safetensors"),
            "the file is damaged or cut short; restore the checkpoint folder (e.g. git checkout resources/model)",
        )
    if isinstance(err, pickle.UnpicklingError):
        folders = [Path(p) for p in (spec.llm_dir, spec.text_encoder_dir) if p is not None]
        where = next((str(p) for p in folders if _pickle_only(p)), "")
        return (
            "the weights are a pickle .bin file, which is not loaded (unsafe); only safetensors weights are",
            where,
            "convert the folder with save_pretrained(..., safe_serialization=True), or run `biblip models prepare`",
        )
    if isinstance(err, OSError):
        from biblip_cli.io.os_errors import os_error

        found = os_error(err)
        return (found.message, found.where, found.hint or "check the model folders and $BIBLIP_HOME")
    return None
