"""Command-line interface: parse options, call a task. No model or VCF logic lives here."""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from biblip_cli import __version__
from biblip_cli.errors import BiblipError, UsageError
from biblip_cli.paths import default_model_dir

app = typer.Typer(
    name="biblip",
    help=(
        "Annotate and prioritise human genetic variants with Bio-BLIP.\n\n"
        "Example: biblip annotate resources/demo.vcf.gz -o annotated.vcf.gz --tsv annotated.tsv"
    ),
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode="rich",
    pretty_exceptions_enable=False,
)
bundle_app = typer.Typer(help="Build, check and describe reference bundles.", no_args_is_help=True)
models_app = typer.Typer(
    help="Prepare and list model weights (frozen LLM, text encoder).", no_args_is_help=True
)
app.add_typer(bundle_app, name="bundle")
app.add_typer(models_app, name="models")

log = logging.getLogger("biblip")


def _version(value: bool) -> None:
    if value:
        typer.echo(f"biblip {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    ctx: typer.Context,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Only warnings and errors on stderr.")] = False,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks and debug logs.")] = False,
) -> None:
    ctx.obj = {"quiet": quiet, "debug": debug}
    level = logging.DEBUG if debug else logging.WARNING if quiet else logging.INFO
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    if debug:
        os.environ["BIBLIP_DEBUG"] = "1"
    if quiet:  # transformers' "Loading weights" bar (read when huggingface_hub is first imported) and
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")  # plain tqdm bars (GGUF conversion)
        os.environ.setdefault("TQDM_DISABLE", "1")


# --- commands are added below, one function per command -------------------------------------------
# (each parses options and calls a function in biblip_cli.commands)


@bundle_app.command("build")
def bundle_build(
    out: Annotated[
        Path, typer.Option("-o", "--out", help="Output bundle directory (must not exist, or use --force).")
    ],
    fasta: Annotated[str, typer.Option(help="Genome FASTA (plain, gzip or bgzip): path or http(s) URL.")],
    gtf: Annotated[str, typer.Option(help="GENCODE-style GTF (.gtf or .gtf.gz): path or URL.")],
    proteins: Annotated[
        str,
        typer.Option(
            help="Protein FASTA (`>SYMBOL ...`, RefSeq or UniProt `GN=` headers); several comma-separated: "
            "the first file wins per gene."
        ),
    ],
    knowledge: Annotated[str, typer.Option(help="Gene knowledge TSV(.gz) with a `symbol` column.")],
    hpo_dir: Annotated[
        str | None, typer.Option(help="Folder with hp.obo, genes_to_phenotype.txt, phenotype.hpoa (.gz ok).")
    ] = None,
    hpo_obo: Annotated[
        str | None, typer.Option(help="hp.obo[.gz] path or URL (overrides --hpo-dir).")
    ] = None,
    hpo_genes: Annotated[str | None, typer.Option(help="genes_to_phenotype.txt[.gz] path or URL.")] = None,
    hpo_annotations: Annotated[str | None, typer.Option(help="phenotype.hpoa[.gz] path or URL.")] = None,
    enhancers: Annotated[
        str | None,
        typer.Option(help="Optional CRISPR enhancer-gene table (chrom, chromStart, chromEnd, ...)."),
    ] = None,
    region: Annotated[
        str | None, typer.Option(help="Keep only CONTIG:START-END (1-based), e.g. chr20:1-10000000.")
    ] = None,
    name: Annotated[str | None, typer.Option(help="Bundle name (default: build + region).")] = None,
    build: Annotated[str, typer.Option(help="Genome build name recorded in the manifest.")] = "GRCh38",
    sha256: Annotated[
        list[str] | None, typer.Option(help="Expected checksum of an input, ROLE=HEX (repeatable).")
    ] = None,
    force: Annotated[bool, typer.Option(help="Replace an existing output directory.")] = False,
    paralogs: Annotated[
        bool,
        typer.Option("--paralogs/--no-paralogs", help="Align the proteins to their paralogs (evidence)."),
    ] = True,
    threads: Annotated[int, typer.Option(min=1, help="Processes for the paralog alignments.")] = 1,
    embed: Annotated[
        bool,
        typer.Option(
            "--embed/--no-embed",
            help="Embed every gene's knowledge texts into the bundle (text_embeddings; inference reuses them).",
        ),
    ] = True,
    text_encoder: Annotated[
        Path | None, typer.Option(help="Sentence encoder directory for --embed (default: all-MiniLM-L6-v2).")
    ] = None,
) -> None:
    """Build a reference bundle from standard files (local paths or http(s) URLs).

    Example: biblip bundle build --fasta GRCh38.fa.gz --gtf gencode.gtf.gz --proteins proteins.fa
    --knowledge genes.tsv.gz --hpo-dir hpo/ --region chr20:1-10000000 -o my_bundle
    """
    from biblip_cli.commands.bundle import run_build

    code = run_build(
        fasta=fasta,
        gtf=gtf,
        proteins=proteins,
        knowledge=knowledge,
        hpo_dir=hpo_dir,
        hpo_obo=hpo_obo,
        hpo_genes=hpo_genes,
        hpo_annotations=hpo_annotations,
        enhancers=enhancers,
        region=region,
        name=name,
        build=build,
        out=out,
        sha256=sha256 or [],
        force=force,
        paralogs=paralogs,
        threads=threads,
        embed=embed,
        text_encoder_dir=text_encoder,
    )
    sys.exit(code)  # not typer.Exit: main() runs standalone_mode=False, which drops Exit codes


@bundle_app.command("embed")
def bundle_embed(
    bundle_dir: Annotated[
        Path | None, typer.Argument(help="Bundle directory (default: the demo bundle).")
    ] = None,
    text_encoder: Annotated[
        Path | None, typer.Option(help="Sentence encoder directory (default: all-MiniLM-L6-v2).")
    ] = None,
    genes: Annotated[
        int | None, typer.Option(min=1, help="Only the first N genes of the knowledge table (benchmarks).")
    ] = None,
) -> None:
    """Embed every gene's knowledge texts into an existing bundle (knowledge/text_embeddings.safetensors).

    Example: biblip bundle embed my_bundle
    """
    from biblip_cli.bundle import default_bundle_dir
    from biblip_cli.commands.bundle import run_embed

    sys.exit(run_embed(bundle_dir or default_bundle_dir(), text_encoder, genes=genes))


@bundle_app.command("validate")
def bundle_validate(
    bundle_dir: Annotated[
        Path | None, typer.Argument(help="Bundle directory (default: the demo bundle).")
    ] = None,
) -> None:
    """Check hashes, FASTA index, contigs and gene cross-references; exit 1 if any check FAILs.

    Example: biblip bundle validate resources/demo_bundle
    """
    from biblip_cli.bundle import default_bundle_dir
    from biblip_cli.commands.bundle import run_validate

    sys.exit(run_validate(bundle_dir or default_bundle_dir()))


@bundle_app.command("info")
def bundle_info(
    bundle_dir: Annotated[
        Path | None, typer.Argument(help="Bundle directory (default: the demo bundle).")
    ] = None,
) -> None:
    """Summarise a bundle: build, contigs, genes, proteins, knowledge, HPO release, files.

    Example: biblip bundle info resources/demo_bundle
    """
    from biblip_cli.bundle import default_bundle_dir
    from biblip_cli.commands.bundle import run_info

    sys.exit(run_info(bundle_dir or default_bundle_dir()))


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


@app.command("annotate")
def annotate(
    ctx: typer.Context,
    input: Annotated[str, typer.Argument(help="VCF, VCF.gz or BCF to annotate; '-' reads stdin.")],
    output: Annotated[str, typer.Option("-o", "--output", help="Output VCF path; '-' = stdout.")] = "-",
    bundle: BundleOption = None,
    model: ModelOption = None,
    llm: LlmOption = None,
    text_encoder: TextEncoderOption = None,
    explain: Annotated[
        bool, typer.Option(help="Add a generated summary per allele (BIOBLIP_EXPLAIN; slow).")
    ] = False,
    no_model: Annotated[
        bool, typer.Option("--no-model", help="Consequences only: no model, Pathogenicity left empty (fast).")
    ] = False,
    no_llm: Annotated[
        bool,
        typer.Option(
            "--no-llm", help="Cheap path: pathogenicity from the Q-former head, no LLM (fast on CPU)."
        ),
    ] = False,
    tsv: Annotated[Path | None, typer.Option(help="Also write a TSV: one row per ALT allele x gene.")] = None,
    output_type: Annotated[
        str | None,
        typer.Option(
            "--output-type",
            "-O",
            help="v = plain VCF, z = bgzip (+ .tbi index for files); default: z for *.gz.",
        ),
    ] = None,
    region: Annotated[
        str | None, typer.Option(help="Only chr:start-end (1-based); uses the index if the input has one.")
    ] = None,
    shard: Annotated[
        str | None,
        typer.Option(
            help="Only shard i/n of the genome (equal bp slices); shards 1..n concatenated = whole run."
        ),
    ] = None,
    batch_size: Annotated[int, typer.Option(help="Alleles per batch.")] = 256,
    device: DeviceOption = "auto",
    threads: Annotated[int | None, typer.Option(help="CPU threads for decompression and the model.")] = None,
    resume: Annotated[
        bool,
        typer.Option(help="Continue a killed run from its last completed batch (same input and options)."),
    ] = False,
    overwrite_info: OverwriteInfoOption = False,
) -> None:
    """Annotate every ALT allele: gene, consequence, HGVSp, pathogenicity (INFO field BIOBLIP).

    Example: biblip annotate resources/demo.vcf.gz -o annotated.vcf.gz -O z --tsv annotated.tsv
    """
    from biblip_cli.commands.annotate import AnnotateOptions, infer_output_type, print_summary, run_annotate

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
    )
    if quiet or not sys.stderr.isatty():
        summary = run_annotate(opts)
    else:
        from rich.console import Console
        from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

        with Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            TimeElapsedColumn(),
            console=Console(stderr=True),
            transient=True,
        ) as bar:
            task = bar.add_task("annotating", total=None)
            summary = run_annotate(
                opts,
                progress=lambda records, alleles: bar.update(
                    task, description=f"annotating: {records:,} records, {alleles:,} alleles"
                ),
            )
    if not quiet:
        print_summary(summary)


@app.command("merge")
def merge(
    inputs: Annotated[list[str], typer.Argument(help="Shard outputs, in shard order (1..n).")],
    output: Annotated[str, typer.Option("-o", "--output", help="Merged VCF path; '-' = stdout.")] = "-",
    output_type: Annotated[
        str | None,
        typer.Option("--output-type", "-O", help="v = plain VCF, z = bgzip (+ .tbi); default: z for *.gz."),
    ] = None,
) -> None:
    """Concatenate the shard outputs of one run (header from the first; headers must agree).

    Example: biblip merge part1.vcf part2.vcf part3.vcf -o whole.vcf.gz
    """
    from biblip_cli.commands.annotate import infer_output_type
    from biblip_cli.io.vcf_write import concat_vcfs

    output_type = infer_output_type(output, output_type)

    if output_type not in ("v", "z"):
        raise UsageError(f"unknown --output-type {output_type!r}", hint="use v (plain VCF) or z (bgzip)")
    concat_vcfs(inputs, output, output_type)


@app.command("rank")
def rank(
    ctx: typer.Context,
    input: Annotated[
        str | None,
        typer.Argument(
            help="The patient's VCF, VCF.gz or BCF (with GT); '-' reads stdin. Optional with --phenopacket "
            "(its VCF file is used)."
        ),
    ] = None,
    phenotype: Annotated[
        list[str] | None,
        typer.Option(
            "--phenotype",
            "-p",
            help="HPO ids or names, comma-separated or repeated (HP:0001250,HP:0001263 or 'seizures').",
        ),
    ] = None,
    phenotype_file: Annotated[
        Path | None, typer.Option(help="File with one HPO id or name per line ('#' comments).")
    ] = None,
    phenopacket: Annotated[
        Path | None,
        typer.Option(
            help="GA4GH Phenopacket v2 (JSON, or YAML with PyYAML): observed and excluded terms, subject id "
            "and sex, and the VCF from its files."
        ),
    ] = None,
    sample: Annotated[
        str | None,
        typer.Option(
            help="Proband sample (default: the phenopacket's subject, the only sample or the first affected in --ped)."
        ),
    ] = None,
    ped: Annotated[
        Path | None, typer.Option(help="PED pedigree (6 columns) for de novo and segregation.")
    ] = None,
    top: Annotated[int, typer.Option(help="Rows in the ranked TSV and the HTML table.")] = 50,
    shortlist: Annotated[
        int, typer.Option(help="Candidates passed from the cheap first pass to the LLM pass.")
    ] = 200,
    phenotype_match: Annotated[
        bool,
        typer.Option(
            "--phenotype-match/--no-phenotype-match",
            help="Add the LLM's 'does this variant explain these phenotypes' log-odds to the score "
            "(off by default: it lowered top-1 on held-out cases, docs/evaluation.md).",
        ),
    ] = False,
    include_filtered: Annotated[
        bool,
        typer.Option(
            "--include-filtered", help="Keep records whose FILTER is not PASS (default: PASS or '.' only)."
        ),
    ] = False,
    min_gq: Annotated[
        int, typer.Option(help="Drop alleles whose proband GQ is below this (where FORMAT has GQ; 0 = off).")
    ] = 20,
    min_dp: Annotated[
        int, typer.Option(help="Drop alleles whose proband DP is below this (where FORMAT has DP; 0 = off).")
    ] = 10,
    af_field: Annotated[
        list[str] | None,
        typer.Option(
            "--af-field",
            help="INFO field with the population allele frequency (repeatable; the max over fields and "
            "this allele's values is used). Default: gnomAD_AF, gnomADe_AF, gnomADg_AF, AF_popmax, MAX_AF, "
            "... when in the header; plain AF only when named.",
        ),
    ] = None,
    max_af: Annotated[
        float | None,
        typer.Option(
            help="Drop alleles with a population AF above this (default: 0.01 for dominant-only genes, "
            "0.02 for others; docs/rank.md, Filters)."
        ),
    ] = None,
    excluded_lr: Annotated[
        float,
        typer.Option(
            help="Likelihood ratio per excluded phenopacket term annotated to a gene (0.25 = LIRICAL-like "
            "penalty; default 1: named in the evidence, not scored, as it hurt on real cases)."
        ),
    ] = 1.0,
    output: Annotated[
        str | None,
        typer.Option(
            "-o", "--output", help="Also write the VCF with BIOBLIP_RANK/BIOBLIP_SCORE ('-' = stdout)."
        ),
    ] = None,
    output_type: Annotated[
        str | None, typer.Option("--output-type", "-O", help="v or z (default: z for a .gz name, else v).")
    ] = None,
    tsv: Annotated[Path | None, typer.Option(help="Ranked allele TSV (default: stdout).")] = None,
    gene_tsv: Annotated[
        Path | None, typer.Option(help="Gene-level TSV: best allele per gene, compound hets joined.")
    ] = None,
    html: Annotated[Path | None, typer.Option(help="Self-contained HTML report.")] = None,
    json_out: Annotated[
        str | None,
        typer.Option(
            "--json", help="JSON: ranked alleles and genes, terms with sources, parameters ('-' = stdout)."
        ),
    ] = None,
    bundle: BundleOption = None,
    model: ModelOption = None,
    llm: LlmOption = None,
    text_encoder: TextEncoderOption = None,
    device: DeviceOption = "auto",
    batch_size: Annotated[int, typer.Option(help="Alleles per model batch.")] = 64,
    threads: Annotated[
        int | None, typer.Option(help="CPU threads for the model (default: torch's choice).")
    ] = None,
    no_model: Annotated[
        bool,
        typer.Option(
            "--no-model", help="Rank by phenotype similarity x deleteriousness only (Exomiser-like)."
        ),
    ] = False,
    overwrite_info: OverwriteInfoOption = False,
) -> None:
    """Rank a patient's variants and genes for given HPO phenotypes (Mendelian prioritisation).

    Example: biblip rank resources/demo.vcf.gz --phenotype HP:0001332,HP:0001260,seizures
    --tsv ranked.tsv --gene-tsv genes.tsv -o ranked.vcf.gz --html report.html
    """
    from biblip_cli.commands.rank import RankOptions, print_summary, run_rank
    from biblip_cli.engine.loading import set_threads
    from biblip_cli.errors import UsageError

    if input is None and phenopacket is None:
        raise UsageError("give a VCF or --phenopacket", hint="biblip rank case.vcf.gz -p HP:0001250")
    set_threads(threads)
    quiet = bool(ctx.obj and ctx.obj.get("quiet"))
    default_model = default_model_dir()
    opts = RankOptions(
        input=input,
        phenotypes=list(phenotype or []),
        phenotype_file=phenotype_file,
        sample=sample,
        ped=ped,
        phenopacket=phenopacket,
        json=json_out,
        top=top,
        shortlist=shortlist,
        phenotype_match=phenotype_match,
        include_filtered=include_filtered,
        min_gq=min_gq,
        min_dp=min_dp,
        af_fields=list(af_field or []),
        max_af=max_af,
        excluded_lr=excluded_lr,
        output=output,
        output_type=output_type,
        tsv=tsv,
        gene_tsv=gene_tsv,
        html=html,
        bundle_dir=bundle,
        model_dir=model or default_model,
        llm_dir=llm,
        text_encoder_dir=text_encoder,
        device=device,
        batch_size=batch_size,
        no_model=no_model,
        overwrite_info=overwrite_info,
        command="biblip " + " ".join(sys.argv[1:]),
    )
    result = run_rank(opts)
    if not quiet:
        print_summary(result)


@app.command("target")
def target(
    ctx: typer.Context,
    input: Annotated[
        str | None, typer.Argument(help="VCF, VCF.gz or BCF ('-' = stdin); omit with --elements.")
    ] = None,
    elements: Annotated[
        Path | None, typer.Option(help="BED of regulatory elements to score instead of VCF alleles.")
    ] = None,
    output: Annotated[
        str, typer.Option("-o", "--output", help="Output VCF ('-' = stdout); with --elements, the TSV.")
    ] = "-",
    tsv: Annotated[
        Path | None, typer.Option(help="Also write a TSV: one row per allele x candidate gene.")
    ] = None,
    output_type: Annotated[str, typer.Option("--output-type", "-O", help="v = plain VCF, z = bgzip.")] = "v",
    window: Annotated[int, typer.Option(help="Candidate genes have a TSS within this many bp.")] = 1_000_000,
    max_genes: Annotated[int, typer.Option(help="At most this many candidate genes, nearest first.")] = 20,
    top: Annotated[int | None, typer.Option(help="Report only the N best-scored genes per allele.")] = None,
    include_coding: Annotated[
        bool, typer.Option(help="Also score coding/splice alleles (default: noncoding alleles only).")
    ] = False,
    bundle: BundleOption = None,
    model: ModelOption = None,
    llm: LlmOption = None,
    text_encoder: TextEncoderOption = None,
    device: DeviceOption = "auto",
    batch_size: Annotated[
        int, typer.Option(help="Allele x gene pairs per model batch (one LLM forward).")
    ] = 256,
    no_model: Annotated[
        bool, typer.Option("--no-model", help="Score genes by inverse distance to the TSS (no model; fast).")
    ] = False,
    region: Annotated[
        str | None, typer.Option(help="Only chr:start-end (1-based); uses the index if the input has one.")
    ] = None,
    shard: Annotated[
        str | None,
        typer.Option(
            help="Only shard i/n of the genome (equal bp slices); shards 1..n concatenated = whole run."
        ),
    ] = None,
    threads: Annotated[
        int | None, typer.Option(help="CPU threads for decompression and the model (1 on a shared machine).")
    ] = None,
    resume: Annotated[
        bool,
        typer.Option(help="Continue a killed run from its last completed batch (same input and options)."),
    ] = False,
) -> None:
    """Score candidate target genes (TSS within the window) of noncoding variants or elements.

    Writes INFO BIOBLIP_TARGET=Allele|Gene|score (best first) and, with --tsv, one row per gene.
    Loci where the bundle has genes but no sequence work too (DNA masked).

    Example: biblip target resources/demo.vcf.gz --top 5 -o targets.vcf --tsv targets.tsv
    """
    from biblip_cli.commands.target import TargetOptions, print_target_summary, run_target

    quiet = bool(ctx.obj and ctx.obj.get("quiet"))
    default_model = default_model_dir()
    opts = TargetOptions(
        input=input,
        elements=elements,
        output=output,
        tsv=tsv,
        output_type=output_type,
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
    if quiet or not sys.stderr.isatty():
        summary = run_target(opts)
    else:
        from rich.console import Console
        from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

        with Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            TimeElapsedColumn(),
            console=Console(stderr=True),
            transient=True,
        ) as bar:
            task = bar.add_task("scoring target genes", total=None)
            summary = run_target(
                opts,
                progress=lambda records, pairs: bar.update(
                    task,
                    description=f"scoring target genes: {records:,} records, {pairs:,} allele x gene pairs",
                ),
            )
    if not quiet:
        print_target_summary(summary)


@app.command("evaluate")
def evaluate(
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Folder for the tables (TSV + JSON) and cases.")
    ] = Path("evaluation"),
    tasks: Annotated[
        str, typer.Option(help="Comma-separated: patho,generate,rank,target,cases.")
    ] = "patho,generate,rank,target,cases",
    data: Annotated[
        Path | None,
        typer.Option(
            help="Data folder laid out as ../shared/data (default: $BIBLIP_DATA or ../shared/data)."
        ),
    ] = None,
    variants: Annotated[
        Path | None, typer.Option(help="Labels TSV (protein_variants.tsv.gz format) for patho/generate/rank.")
    ] = None,
    pairs: Annotated[
        Path | None,
        typer.Option(help="Enhancer-gene pairs TSV (CRISPR benchmark format); default Fulco 2019 K562."),
    ] = None,
    abc: Annotated[
        Path | None, typer.Option(help="ABC predictions TSV to compare (default: the Fulco genes' file).")
    ] = None,
    cases: Annotated[
        Path | None,
        typer.Option(help="Simulated cases (a cases.tsv or its folder) instead of simulating new ones."),
    ] = None,
    background: Annotated[
        Path | None, typer.Option(help="Background VCF for simulated cases (default: the common SNPs).")
    ] = None,
    hpo_genes: Annotated[
        Path | None, typer.Option(help="genes_to_phenotype.txt(.gz) for phenotype facts and case terms.")
    ] = None,
    phenopackets: Annotated[
        Path | None,
        typer.Option(
            help="Real cases for the cases task: phenopackets .zip, folder, or the flattened TSV(.gz)."
        ),
    ] = None,
    cases_background: Annotated[
        int, typer.Option(help="Benign missense changes behind each real case (cases task, protein level).")
    ] = 300,
    split: Annotated[
        str, typer.Option(help="Genes evaluated: test, val, train or all (patho, generate, rank).")
    ] = "test",
    pairs_split: Annotated[
        str,
        typer.Option(
            help="Genes of --pairs kept: all (Fulco 2019 is excluded from training), test, val, train."
        ),
    ] = "all",
    limit: Annotated[
        int | None, typer.Option(help="Cap every task at N variants / cases / elements.")
    ] = None,
    patho_limit: Annotated[
        int | None, typer.Option(help="Variants for the patho task (seeded sample; 0 = every row).")
    ] = 500,
    generate_limit: Annotated[int, typer.Option(help="Variants described in the generate task.")] = 32,
    n_cases: Annotated[int, typer.Option(help="Simulated cases per case set.")] = 20,
    n_decoys: Annotated[int, typer.Option(help="Random missense SNVs added to each simulated case.")] = 10,
    rank_shortlist: Annotated[
        int, typer.Option(help="Candidates per case given the LLM pass of biblip rank.")
    ] = 20,
    target_limit: Annotated[
        int | None,
        typer.Option(help="Elements for the target task (sampled, half with a regulated gene); 0 = all."),
    ] = 200,
    seed: Annotated[int, typer.Option(help="Seed for sampling and case simulation.")] = 13,
    bundle: BundleOption = None,
    model: ModelOption = None,
    llm: LlmOption = None,
    text_encoder: TextEncoderOption = None,
    device: DeviceOption = "auto",
    batch_size: Annotated[int, typer.Option(help="Items per model batch.")] = 32,
    no_model: Annotated[
        bool, typer.Option("--no-model", help="Baselines only (no checkpoint needed).")
    ] = False,
) -> None:
    """Evaluate every task beside its baselines on held-out data; one table per task (TSV + JSON in --out).

    Example: biblip evaluate --tasks patho,generate,rank,target --seed 13 --out evaluation/
    """
    from biblip_cli.evaluation.evaluate import EvaluateOptions, run_evaluate

    default_model = default_model_dir()
    opts = EvaluateOptions(
        out=out,
        tasks=tuple(t.strip() for t in tasks.split(",") if t.strip()),
        data_dir=data,
        variants=variants,
        pairs=pairs,
        abc=abc,
        cases=cases,
        background=background,
        hpo_genes=hpo_genes,
        phenopackets=phenopackets,
        cases_background=cases_background,
        split=split,
        pairs_split=pairs_split,
        limit=limit,
        patho_limit=patho_limit,
        generate_limit=generate_limit,
        n_cases=n_cases,
        n_decoys=n_decoys,
        rank_shortlist=rank_shortlist,
        target_limit=target_limit,
        seed=seed,
        bundle_dir=bundle,
        model_dir=model or default_model,
        llm_dir=llm,
        text_encoder_dir=text_encoder,
        device=device,
        no_model=no_model,
        batch_size=batch_size,
        command_line="biblip " + " ".join(sys.argv[1:]),
    )
    run_evaluate(opts)


@models_app.command("prepare")
def models_prepare(
    llm_only: Annotated[
        bool, typer.Option("--llm-only", help="Only the default LLM (SmolLM2-135M-Instruct).")
    ] = False,
    text_encoder_only: Annotated[
        bool, typer.Option("--text-encoder-only", help="Only the default text encoder (all-MiniLM-L6-v2).")
    ] = False,
) -> None:
    """Fetch and convert the default frozen weights into $BIBLIP_HOME (~/.cache/biblip), once (~30-60 s).

    Example: biblip models prepare
    """
    from biblip_cli.model.weights import default_llm_dir, default_text_encoder_dir

    if llm_only and text_encoder_only:
        from biblip_cli.errors import UsageError

        raise UsageError("--llm-only and --text-encoder-only exclude each other")
    if not text_encoder_only:
        typer.echo(f"llm\t{default_llm_dir()}", err=True)
    if not llm_only:
        typer.echo(f"text_encoder\t{default_text_encoder_dir()}", err=True)


@models_app.command("list")
def models_list() -> None:
    """Table of prepared weights: role, name, path, size, sha256 (of the GGUF source for the LLM).

    Example: biblip models list
    """
    from biblip_cli.model.weights import list_prepared

    typer.echo("role\tname\tpath\tsize_mb\tsha256")
    for row in list_prepared():
        path = str(row.path) if row.path else "(not prepared: run `biblip models prepare`)"
        typer.echo(f"{row.role}\t{row.name}\t{path}\t{row.size_bytes / 2**20:.1f}\t{row.sha256 or '-'}")


@app.command("train")
def train(
    bundle: Annotated[
        Path,
        typer.Option(
            help="Training bundle: genes genome-wide (see docs/model_card.md for the build command)."
        ),
    ],
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Checkpoint folder (config.json, model.safetensors, ...).")
    ],
    preset: Annotated[
        str, typer.Option(help="Model size and recipe: tiny, default (CPU < 60 min) or large (GPU).")
    ] = "default",
    data: Annotated[
        Path | None,
        typer.Option(
            help="Data folder laid out as ../shared/data (default: $BIBLIP_DATA or ../shared/data)."
        ),
    ] = None,
    seed: Annotated[int, typer.Option(help="Random seed (the run is deterministic given it).")] = 0,
    epochs: Annotated[
        float | None, typer.Option(help="Stage-1 passes over the training items (overrides --stage1-steps).")
    ] = None,
    stage1_steps: Annotated[int | None, typer.Option(help="Stage-1 steps (VTC/VTM/head, no LLM).")] = None,
    stage2_steps: Annotated[
        int | None, typer.Option(help="Stage-2 steps (LM loss through the frozen LLM).")
    ] = None,
    batch1: Annotated[int | None, typer.Option(help="Stage-1 batch size.")] = None,
    batch2: Annotated[int | None, typer.Option(help="Stage-2 batch size.")] = None,
    resume: Annotated[bool, typer.Option(help="Continue from OUT/last/ after an interruption.")] = False,
    device: DeviceOption = "auto",
    threads: Annotated[
        int | None, typer.Option(help="CPU threads for torch (default: torch's choice).")
    ] = None,
    max_minutes: Annotated[
        float | None, typer.Option(help="Stop (and save OUT/last/ for --resume) after this many minutes.")
    ] = None,
    llm: Annotated[
        Path | None, typer.Option(help="Frozen causal-LM folder (default: SmolLM2-135M-Instruct).")
    ] = None,
    text_encoder: Annotated[
        Path | None, typer.Option(help="Sentence-encoder folder (default: all-MiniLM-L6-v2).")
    ] = None,
    init_from: Annotated[
        Path | None,
        typer.Option(help="Warm start from this checkpoint (same split; new input columns start at zero)."),
    ] = None,
    max_train_genes: Annotated[
        int | None, typer.Option(help="Train on the items of this many training genes (0 = all).")
    ] = None,
) -> None:
    """Pretrain Bio-BLIP (stage 1: VTC/VTM, stage 2: frozen-LLM LM loss) and write a checkpoint.

    Example: biblip train --bundle train_bundle --out runs/default --preset default
    """
    from biblip_cli.engine.loading import set_threads
    from biblip_cli.training.train import TrainOptions
    from biblip_cli.training.train import train as run_train

    set_threads(threads)
    opts = TrainOptions(
        out=out, bundle=bundle, data=data, preset=preset, seed=seed, epochs=epochs, stage1_steps=stage1_steps,
        stage2_steps=stage2_steps, batch1=batch1, batch2=batch2, resume=resume, device=device,
        max_minutes=max_minutes, llm_dir=llm, text_encoder_dir=text_encoder, init_from=init_from,
        max_train_genes=max_train_genes,
    )  # fmt: skip
    result = run_train(opts)
    if result is None:
        typer.echo(f"interrupted: state saved in {out}/last; continue with --resume", err=True)
        sys.exit(3)
    typer.echo(f"checkpoint written to {result}", err=True)


_SIGNALLED: list[int] = []


def _on_signal(signum: int, _frame: object) -> None:
    """SIGTERM ends the run like Ctrl-C: the commands' cleanup runs (temp files removed, resumable
    partials kept for --resume), then `main` exits 128 + signum."""
    _SIGNALLED.append(signum)
    raise KeyboardInterrupt(signum)


def _quiet_stdout() -> None:
    """After EPIPE: point stdout at /dev/null so the interpreter's final flush cannot fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


def _flush_stdout() -> None:
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        _quiet_stdout()
    except OSError as err:
        from biblip_cli.io.outputs import os_error

        _quiet_stdout()
        raise os_error(err, "<stdout>", "write") from err


def main() -> None:
    """Console entry point. Click's standalone mode turns usage errors into exit 2 with a message;
    input errors (BiblipError) and file-system errors (OSError: disk full, read-only, permission, ...)
    become one line on stderr and exit 1; a closed stdout pipe is not an error (quiet exit 0).
    SIGTERM/SIGINT exit 128 + signal. Temp files of the output layer are removed on every way out."""
    import signal

    from biblip_cli.io.outputs import StdoutClosed, cleanup, os_error

    with contextlib.suppress(ValueError):  # not the main thread (embedded use)
        signal.signal(signal.SIGTERM, _on_signal)
    code: int | str | None = 0
    try:
        try:
            app()
        except SystemExit as done:
            code = done.code
        if code in (0, None):
            _flush_stdout()
    except BiblipError as err:
        cleanup()
        if os.environ.get("BIBLIP_DEBUG"):
            raise
        typer.echo(f"error: {err.one_line()}", err=True)
        code = err.exit_code
    except (BrokenPipeError, StdoutClosed):
        cleanup()
        _quiet_stdout()
        code = 0
    except OSError as err:
        cleanup()
        if os.environ.get("BIBLIP_DEBUG"):
            raise
        typer.echo(f"error: {os_error(err).one_line()}", err=True)
        code = 1
    finally:
        cleanup()
    if _SIGNALLED:
        code = 128 + _SIGNALLED[0]
    sys.exit(code)


if __name__ == "__main__":
    main()
