"""`biblip annotate` and `biblip merge`: parse options, call commands/annotate.py."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from biblip_cli.cli_options import (
    BundleOption,
    DeviceOption,
    ForceOption,
    LlmOption,
    ModelOption,
    OverwriteInfoOption,
    RegionOption,
    ResumeOption,
    ShardOption,
    TextEncoderOption,
)
from biblip_cli.paths import default_model_dir

ExplainOption = Annotated[
    bool, typer.Option(help="Add a generated summary per allele (BIOBLIP_EXPLAIN; slow).")
]
NoModelOption = Annotated[
    bool, typer.Option("--no-model", help="Consequences only: no model, Pathogenicity left empty (fast).")
]
NoLlmOption = Annotated[
    bool,
    typer.Option("--no-llm", help="Cheap path: pathogenicity from the Q-former head, no LLM (fast on CPU)."),
]
ScoreOption = Annotated[
    str | None,
    typer.Option(
        "--score",
        metavar="head|llm",
        help="Which pathogenicity to report: the Q-former head + evidence residual, or the frozen LLM's "
        "answer (default: the checkpoint's choice, metadata reported_pathogenicity; the shipped one: head).",
    ),
]
OutputTypeOption = Annotated[
    str | None,
    typer.Option(
        "--output-type",
        "-O",
        metavar="v|z|b|u",
        help="v = VCF, z = bgzipped VCF (+ .tbi for files), b = BCF, u = uncompressed BCF; "
        "default from the name (.vcf.gz z, .bcf b, else v).",
    ),
]
WriteIndexOption = Annotated[
    bool,
    typer.Option(
        "--write-index", help="Index the output as bcftools does: .csi for BCF (-O z always gets .tbi)."
    ),
]
PickOption = Annotated[
    bool,
    typer.Option(
        "--pick",
        help="One transcript per allele: MANE Select > canonical > most severe > longest (as VEP --pick_allele).",
    ),
]
CanonicalOnlyOption = Annotated[
    bool,
    typer.Option("--canonical-only", help="Report canonical transcripts only (default: every transcript)."),
]


def annotate(
    ctx: typer.Context,
    input: Annotated[str, typer.Argument(help="VCF, VCF.gz or BCF to annotate; '-' reads stdin.")],
    output: Annotated[str, typer.Option("-o", "--output", help="Output VCF path; '-' = stdout.")] = "-",
    bundle: BundleOption = None,
    model: ModelOption = None,
    llm: LlmOption = None,
    text_encoder: TextEncoderOption = None,
    explain: ExplainOption = False,
    no_model: NoModelOption = False,
    no_llm: NoLlmOption = False,
    score: ScoreOption = None,
    tsv: Annotated[Path | None, typer.Option(help="Also write a TSV: one row per ALT allele x gene.")] = None,
    output_type: OutputTypeOption = None,
    region: RegionOption = None,
    shard: ShardOption = None,
    batch_size: Annotated[int, typer.Option(help="Alleles per batch.")] = 256,
    device: DeviceOption = "auto",
    threads: Annotated[int | None, typer.Option(help="CPU threads for decompression and the model; with --no-model, N worker processes for the consequence spine (a file input).")] = None,
    resume: ResumeOption = False,
    overwrite_info: OverwriteInfoOption = False,
    write_index: WriteIndexOption = False,
    force: ForceOption = False,
    pick: PickOption = False,
    canonical_only: CanonicalOnlyOption = False,
) -> None:
    """Annotate every ALT allele: gene, consequence, HGVSp, pathogenicity (INFO field BIOBLIP).

    \b
    Examples:
    biblip annotate resources/demo.vcf.gz -o annotated.vcf.gz --tsv annotated.tsv
    biblip annotate resources/demo.vcf.gz --no-model -o annotated.bcf --write-index
    """
    from biblip_cli.commands.annotate import print_summary, run_annotate
    from biblip_cli.commands.annotate_options import AnnotateOptions, infer_output_type

    quiet = bool(ctx.obj and ctx.obj.get("quiet"))
    default_model = default_model_dir()
    opts = AnnotateOptions(
        input=input,
        output=output,
        bundle_dir=bundle,
        model_dir=model or default_model,
        llm_dir=llm,
        text_encoder_dir=text_encoder,
        explain=explain,
        no_model=no_model,
        no_llm=no_llm,
        score=score,
        tsv=tsv,
        output_type=infer_output_type(output, output_type),
        region=region,
        shard=shard,
        batch_size=batch_size,
        device=device,
        threads=threads,
        resume=resume,
        command_line="biblip " + " ".join(sys.argv[1:]),
        quiet=quiet,
        overwrite_info=overwrite_info,
        write_index=write_index,
        force=force,
        pick=pick,
        canonical_only=canonical_only,
    )
    from biblip_cli.io.vcf_read import indexed_record_count
    from biblip_cli.progress import RunProgress

    # the total (for the bar and the ETA) from the input's index, when the whole file is read
    total = None if region or shard else indexed_record_count(input)
    with RunProgress("annotate", total, count_unit="alleles", quiet=quiet) as progress:
        summary = run_annotate(opts, progress=progress.update)
    if not quiet:
        print_summary(summary)


def merge(
    inputs: Annotated[list[str], typer.Argument(help="Shard outputs, in shard order (1..n).")],
    output: Annotated[str, typer.Option("-o", "--output", help="Merged VCF path; '-' = stdout.")] = "-",
    output_type: OutputTypeOption = None,
    write_index: WriteIndexOption = False,
) -> None:
    """Concatenate the shard outputs of one run (header from the first; headers must agree).

    \b
    Example:
    biblip annotate resources/demo.vcf.gz --no-model --shard 1/2 -o part1.vcf
    biblip annotate resources/demo.vcf.gz --no-model --shard 2/2 -o part2.vcf
    biblip merge part1.vcf part2.vcf -o whole.vcf.gz
    """
    from biblip_cli.io.vcf_compress import check_output_type, infer_output_type
    from biblip_cli.io.vcf_write import concat_vcfs

    output_type = infer_output_type(output, output_type)
    check_output_type(output_type, write_index)
    concat_vcfs(inputs, output, output_type, write_index)
