"""`biblip target`: parse options, call commands/target.py."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from biblip_cli.cli_options import (
    BundleOption,
    DeviceOption,
    LlmOption,
    ModelOption,
    RegionOption,
    ResumeOption,
    ShardOption,
    TextEncoderOption,
)
from biblip_cli.paths import default_model_dir

InputArgument = Annotated[
    str | None, typer.Argument(help="VCF, VCF.gz or BCF ('-' = stdin); omit with --elements.")
]
ElementsOption = Annotated[
    Path | None,
    typer.Option(
        help="Regulatory elements to score instead of VCF alleles: a BED, or a table with a header "
        "(chr start end name + DHS.RPM / H3K27ac.RPM / ATAC.RPM activity; docs/usage.md)."
    ),
]
OutputOption = Annotated[
    str, typer.Option("-o", "--output", help="Output VCF ('-' = stdout); with --elements, the TSV.")
]
TsvOption = Annotated[
    Path | None, typer.Option(help="Also write a TSV: one row per allele x candidate gene.")
]
OutputTypeOption = Annotated[
    str | None,
    typer.Option(
        "--output-type",
        "-O",
        metavar="v|z|b|u",
        help="v = VCF, z = bgzipped VCF, b = BCF, u = uncompressed BCF; default from the name.",
    ),
]
IncludeCodingOption = Annotated[
    bool, typer.Option(help="Also score coding/splice alleles (default: noncoding alleles only).")
]
BatchSizeOption = Annotated[
    int,
    typer.Option(
        help="Allele x gene pairs per model batch (one Q-former pass; one LLM forward for a checkpoint "
        "without target_head)."
    ),
]
NoModelOption = Annotated[
    bool, typer.Option("--no-model", help="Score genes by inverse distance to the TSS (no model; fast).")
]
ThreadsOption = Annotated[
    int | None, typer.Option(help="CPU threads for decompression and the model (1 on a shared machine).")
]


def target(
    ctx: typer.Context,
    input: InputArgument = None,
    elements: ElementsOption = None,
    output: OutputOption = "-",
    tsv: TsvOption = None,
    output_type: OutputTypeOption = None,
    window: Annotated[int, typer.Option(help="Candidate genes have a TSS within this many bp.")] = 1_000_000,
    max_genes: Annotated[int, typer.Option(help="At most this many candidate genes, nearest first.")] = 20,
    top: Annotated[int | None, typer.Option(help="Report only the N best-scored genes per allele.")] = None,
    include_coding: IncludeCodingOption = False,
    bundle: BundleOption = None,
    model: ModelOption = None,
    llm: LlmOption = None,
    text_encoder: TextEncoderOption = None,
    device: DeviceOption = "auto",
    batch_size: BatchSizeOption = 256,
    no_model: NoModelOption = False,
    region: RegionOption = None,
    shard: ShardOption = None,
    threads: ThreadsOption = None,
    resume: ResumeOption = False,
) -> None:
    """Score candidate target genes (TSS within the window) of noncoding variants or elements.

    Writes INFO BIOBLIP_TARGET=Allele|Gene|score (best first) and, with --tsv, one row per gene.
    Loci where the bundle has genes but no sequence work too (DNA masked).

    \b
    Example:
    biblip target resources/demo.vcf.gz --top 5 -o targets.vcf --tsv targets.tsv
    """
    from biblip_cli.commands.target_options import TargetOptions, print_target_summary
    from biblip_cli.io.vcf_compress import infer_output_type

    quiet = bool(ctx.obj and ctx.obj.get("quiet"))
    default_model = default_model_dir()
    opts = TargetOptions(
        input=input,
        elements=elements,
        output=output,
        tsv=tsv,
        output_type=infer_output_type(output, output_type),
        bundle_dir=bundle,
        model_dir=model or default_model,
        llm_dir=llm,
        text_encoder_dir=text_encoder,
        window=window,
        max_genes=max_genes,
        top=top,
        include_coding=include_coding,
        no_model=no_model,
        batch_size=batch_size,
        device=device,
        threads=threads,
        region=region,
        shard=shard,
        resume=resume,
        command_line="biblip " + " ".join(sys.argv[1:]),
    )
    summary = _run_with_progress(opts, quiet)
    if not quiet:
        print_target_summary(summary)


def _run_with_progress(opts: Any, quiet: bool) -> Any:
    """`run_target` reporting records and allele x gene pairs scored (a bar on a terminal, else a log line
    every ~10 s; progress.py); the total from the input's index when the whole VCF is read."""
    from biblip_cli.commands.target import run_target
    from biblip_cli.io.vcf_read import indexed_record_count
    from biblip_cli.progress import RunProgress

    whole_vcf = opts.input is not None and opts.elements is None and not (opts.region or opts.shard)
    total = indexed_record_count(opts.input) if whole_vcf else None
    with RunProgress("target", total, count_unit="pairs", quiet=quiet) as progress:
        return run_target(opts, progress=progress.update)
