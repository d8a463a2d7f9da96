"""Options shared by the commands that load the model (one declaration, the same help everywhere)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

# Options shared by the commands that load the model (annotate, rank, target, evaluate; train: device).
BundleOption = Annotated[
    Path | None, typer.Option(help="Reference bundle directory (default: $BIBLIP_BUNDLE or the demo bundle).")
]
ModelOption = Annotated[
    Path | None, typer.Option(help="Bio-BLIP checkpoint directory (default: the shipped resources/model).")
]
LlmOption = Annotated[
    Path | None, typer.Option(help="Frozen causal LM directory (default: prepared SmolLM2).")
]
TextEncoderOption = Annotated[
    Path | None, typer.Option(help="Sentence encoder directory (default: prepared all-MiniLM-L6-v2).")
]
DeviceOption = Annotated[str, typer.Option(help="auto, cpu or cuda.")]
OverwriteInfoOption = Annotated[
    bool,
    typer.Option(
        "--overwrite-info", help="Replace the input's own BIOBLIP* INFO declarations of another type."
    ),
]

ForceOption = Annotated[
    bool,
    typer.Option("--force", help="Run with an LLM whose sha256 differs from the one the checkpoint records."),
]
# --region/--shard/--resume: the same rules for annotate and target (io/vcf_regions.py, io/resumable.py)
RegionOption = Annotated[
    str | None,
    typer.Option(
        metavar="CHR:START-END", help="Only chr:start-end (1-based); uses the index if the input has one."
    ),
]
ShardOption = Annotated[
    str | None,
    typer.Option(
        metavar="I/N",
        help="Only shard i/n of the genome (equal bp slices); shards 1..n concatenated = whole run.",
    ),
]
ResumeOption = Annotated[
    bool,
    typer.Option(help="Continue a killed run from its last completed batch (same input and options)."),
]
