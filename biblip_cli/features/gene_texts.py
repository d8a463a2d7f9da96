"""Gene-text embeddings stored in a bundle (role `text_embeddings`): embedded once per bundle, not per run.

`embed_bundle` embeds every gene's knowledge snippets (`text.gene_snippets`) with the sentence encoder and
writes `knowledge/text_embeddings.safetensors`: `sha1` [N, 20] uint8 (the text's hash, the same key as the
`$BIBLIP_HOME` text cache) and `emb` [N, 384] fp16, so the file is content-addressed by text. Its metadata
names the encoder setup: `fingerprint` (what `TextEmbedder` matches before using the file), `encoder_sha256`
(sha256 of the encoder's weight files), `knowledge_sha256` (the knowledge file the texts came from; `bundle
validate` warns when the bundle's knowledge changed since) and `texts`. At inference `Engine.load` hands
the file to `TextEmbedder(extra_caches=...)`: a text the bundle has is never embedded again; a missing one
(another encoder, a gene added later) is embedded and cached in `$BIBLIP_HOME` as before.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from biblip_cli.bundle.manifest import FileEntry, read_manifest, safe_path, write_manifest
from biblip_cli.features.text import TextEmbedder, gene_snippets
from biblip_cli.io.textfiles import sha256_file

if TYPE_CHECKING:
    from biblip_cli.bundle import Bundle

log = logging.getLogger(__name__)

EMBEDDINGS_PATH = "knowledge/text_embeddings.safetensors"


@dataclass
class EmbedReport:
    path: Path
    genes: int
    texts: int  # distinct non-empty snippets written
    embedded: int  # of those, run through the encoder (the rest came from a cache)
    seconds: float  # the embedding step alone (encoder load excluded)
    size: int

    @property
    def texts_per_second(self) -> float:
        return self.embedded / self.seconds if self.seconds > 0 else 0.0


def encoder_sha256(model_dir: Path) -> str:
    """sha256 over the encoder's weight files (name + bytes), sorted by name."""
    digest = hashlib.sha256()
    weights = sorted(Path(model_dir).glob("*.safetensors")) + sorted(Path(model_dir).glob("*.bin"))
    for path in weights:
        digest.update(path.name.encode() + b"\0" + bytes.fromhex(sha256_file(path)))
    return digest.hexdigest()


def bundle_gene_texts(knowledge: dict) -> list[str]:
    """Every distinct non-empty snippet of the bundle's genes, in gene order."""
    texts = (t for gene in knowledge.values() for t in gene_snippets(gene))
    return list(dict.fromkeys(t for t in texts if t))


def bundle_text_embedder(
    bundle: Bundle, text_encoder_dir: Path | None = None, device: str = "cpu"
) -> TextEmbedder:
    """The text embedder that inference and training share: the bundle's `text_embeddings` (read-only, if
    it has them) first, then the `$BIBLIP_HOME/text_cache` that every run fills, then the encoder."""
    from biblip_cli.paths import biblip_home

    shipped = bundle.path("text_embeddings")
    return TextEmbedder(
        text_encoder_dir,
        cache_dir=biblip_home() / "text_cache",
        device=device,
        extra_caches=[shipped] if shipped is not None and shipped.is_file() else [],
    )


def embed_bundle(
    bundle_dir: Path,
    text_encoder_dir: Path | None = None,
    *,
    cache_dir: Path | None = None,
    batch_size: int = 64,
    genes: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> EmbedReport:
    """Embed the bundle's gene texts into `knowledge/text_embeddings.safetensors` and record it in the
    manifest. `cache_dir`: reuse (and fill) a `$BIBLIP_HOME` text cache; None embeds every text afresh.
    `genes`: only the first N genes (benchmarks). `progress(texts embedded, texts to embed)`."""
    from biblip_cli.bundle import Bundle

    bundle_dir = Path(bundle_dir)
    bundle = Bundle.open(bundle_dir)
    knowledge = bundle.knowledge
    if genes is not None:
        knowledge = dict(list(knowledge.items())[:genes])
    texts = bundle_gene_texts(knowledge)
    rel = EMBEDDINGS_PATH
    target = safe_path(bundle_dir, rel)
    if not texts:
        log.warning("%s: no gene has knowledge text: nothing to embed", bundle_dir)
        return EmbedReport(target, len(knowledge), 0, 0, 0.0, 0)
    embedder = TextEmbedder(text_encoder_dir, cache_dir=cache_dir, batch_size=batch_size)
    todo = [t for t in texts if t not in embedder]
    if todo:
        embedder._load()  # the encoder load is not part of the texts/s measured below
    started = time.perf_counter()
    embedded = embedder.precompute(todo, progress)
    seconds = time.perf_counter() - started
    manifest = read_manifest(bundle_dir)
    meta = {
        "encoder_sha256": encoder_sha256(embedder.model_dir),
        "knowledge_sha256": manifest.files["knowledge"].sha256,
        "texts": str(len(texts)),
    }
    written = embedder.export(target, texts, extra_metadata=meta)
    target.chmod(0o644)  # a bundle file like the others (the temp file it was renamed from is private)
    manifest.files["text_embeddings"] = FileEntry(
        path=rel,
        sha256=sha256_file(target),
        source=f"{embedder.model_dir.name} over {len(knowledge)} genes' knowledge snippets",
        version=f"encoder {embedder.fingerprint} sha256 {meta['encoder_sha256'][:12]}",
        size=target.stat().st_size,
    )
    write_manifest(bundle_dir, manifest)
    log.info("%d gene texts embedded into %s (%.1f texts/s)", written, target, embedded / max(seconds, 1e-9))
    return EmbedReport(target, len(knowledge), written, embedded, seconds, target.stat().st_size)
