#!/usr/bin/env bash
# Rebuild resources/demo_bundle/ and resources/demo.vcf.gz(.tbi) from ../shared/data (GRCh38 chr20:1-10,000,000).
# Byte-identical on rebuild (fixed SOURCE_DATE_EPOCH). Needs bgzip + tabix (Debian package `tabix`).
set -euo pipefail
cd "$(dirname "$0")/.."
export SOURCE_DATE_EPOCH="${SOURCE_DATE_EPOCH:-1764028800}"  # 2025-11-25T00:00:00Z
python scripts/make_demo_bundle.py "$@"
# precomputed gene-text embeddings, so a first run does not spend a minute on the text encoder
python scripts/bundle_text_embeddings.py resources/demo_bundle
