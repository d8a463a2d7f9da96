"""Add precomputed gene-text embeddings to a bundle (role `text_embeddings`).

    python scripts/bundle_text_embeddings.py BUNDLE_DIR [--text-encoder DIR]

Embeds every gene's knowledge snippets (`features.text.gene_snippets`) with the frozen sentence encoder
once, writes `knowledge/text_embeddings.safetensors` and records it (sha256, encoder) in the manifest, so
that the first `biblip annotate` on the bundle does not spend a minute embedding text. The file is only
used when it was made by the same encoder setup (its fingerprint is stored with the vectors).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from biblip_cli.bundle import Bundle
from biblip_cli.bundle.manifest import FileEntry, read_manifest, write_manifest
from biblip_cli.features.text import TextEmbedder, gene_snippets
from biblip_cli.io.textfiles import sha256_file
from biblip_cli.model.weights import biblip_home, default_text_encoder_dir

REL = "knowledge/text_embeddings.safetensors"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("bundle", type=Path)
    parser.add_argument("--text-encoder", type=Path, default=None)
    args = parser.parse_args()

    bundle = Bundle.open(args.bundle)
    encoder_dir = args.text_encoder or default_text_encoder_dir()
    embedder = TextEmbedder(encoder_dir, cache_dir=biblip_home() / "text_cache")
    texts = [s for k in bundle.knowledge.values() for s in gene_snippets(k) if s]
    embedder.precompute(texts)
    embedder.flush()
    out = args.bundle / REL
    n = embedder.export(out, texts)
    manifest = read_manifest(args.bundle)
    manifest.files["text_embeddings"] = FileEntry(
        path=REL,
        sha256=sha256_file(out),
        source=f"gene_snippets of the knowledge table, embedded by {Path(encoder_dir).name}",
        version=embedder.fingerprint,
        size=out.stat().st_size,
    )
    write_manifest(args.bundle, manifest)
    print(f"{n} text embeddings -> {out}")


if __name__ == "__main__":
    main()
