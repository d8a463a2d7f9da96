"""`biblip bundle` and `biblip models`: parse options, call commands/bundle.py or model/weights.py."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

bundle_app = typer.Typer(help="Build, check and describe reference bundles.", no_args_is_help=True)
models_app = typer.Typer(
    help="Prepare and list model weights (frozen LLM, text encoder).", no_args_is_help=True
)


OutOption = Annotated[
    Path, typer.Option("-o", "--out", help="Output bundle directory (must not exist, or use --force).")
]
ProteinsOption = Annotated[
    str,
    typer.Option(
        help="Protein FASTA (`>SYMBOL ...`, RefSeq or UniProt `GN=` headers); several comma-separated: "
        "the first file wins per gene."
    ),
]
HpoDirOption = Annotated[
    str | None, typer.Option(help="Folder with hp.obo, genes_to_phenotype.txt, phenotype.hpoa (.gz ok).")
]
HpoOboOption = Annotated[str | None, typer.Option(help="hp.obo[.gz] path or URL (overrides --hpo-dir).")]
EnhancersOption = Annotated[
    str | None,
    typer.Option(help="Optional CRISPR enhancer-gene table (chrom, chromStart, chromEnd, ...)."),
]
RegionOption = Annotated[
    str | None, typer.Option(help="Keep only CONTIG:START-END (1-based), e.g. chr20:1-10000000.")
]
Sha256Option = Annotated[
    list[str] | None, typer.Option(help="Expected checksum of an input, ROLE=HEX (repeatable).")
]
ParalogsOption = Annotated[
    bool,
    typer.Option("--paralogs/--no-paralogs", help="Align the proteins to their paralogs (evidence)."),
]
EmbedOption = Annotated[
    bool,
    typer.Option(
        "--embed/--no-embed",
        help="Embed every gene's knowledge texts into the bundle (text_embeddings; inference reuses them).",
    ),
]
EmbedTextEncoderOption = Annotated[
    Path | None, typer.Option(help="Sentence encoder directory for --embed (default: all-MiniLM-L6-v2).")
]


@bundle_app.command("build")
def bundle_build(
    ctx: typer.Context,
    out: OutOption,
    fasta: Annotated[str, typer.Option(help="Genome FASTA (plain, gzip or bgzip): path or http(s) URL.")],
    gtf: Annotated[str, typer.Option(help="GENCODE-style GTF (.gtf or .gtf.gz): path or URL.")],
    proteins: ProteinsOption,
    knowledge: Annotated[str, typer.Option(help="Gene knowledge TSV(.gz) with a `symbol` column.")],
    hpo_dir: HpoDirOption = None,
    hpo_obo: HpoOboOption = None,
    hpo_genes: Annotated[str | None, typer.Option(help="genes_to_phenotype.txt[.gz] path or URL.")] = None,
    hpo_annotations: Annotated[str | None, typer.Option(help="phenotype.hpoa[.gz] path or URL.")] = None,
    enhancers: EnhancersOption = None,
    region: RegionOption = None,
    name: Annotated[str | None, typer.Option(help="Bundle name (default: build + region).")] = None,
    build: Annotated[str, typer.Option(help="Genome build name recorded in the manifest.")] = "GRCh38",
    sha256: Sha256Option = None,
    force: Annotated[bool, typer.Option(help="Replace an existing output directory.")] = False,
    paralogs: ParalogsOption = True,
    threads: Annotated[int, typer.Option(min=1, help="Processes for the paralog alignments.")] = 1,
    embed: EmbedOption = True,
    text_encoder: EmbedTextEncoderOption = None,
) -> None:
    """Build a reference bundle from standard files (local paths or http(s) URLs).

    \b
    Example (from the repository root, with the shared data beside it; ~25 s):
    biblip bundle build -o train_bundle --fasta ../shared/data/reference/GRCh38.chr20_chr21_10M.fa.gz \\
      --gtf ../shared/data/genes/canonical.GRCh38.gtf.gz --proteins ../shared/data/genes/proteins.demo.fa \\
      --knowledge ../shared/data/knowledge/genes.tsv.gz --hpo-dir ../shared/data/hpo
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
        quiet=bool(ctx.obj and ctx.obj.get("quiet")),
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

    \b
    Example:
    biblip bundle embed resources/demo_bundle
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

    \b
    Example:
    biblip bundle validate resources/demo_bundle
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

    \b
    Example:
    biblip bundle info resources/demo_bundle
    """
    from biblip_cli.bundle import default_bundle_dir
    from biblip_cli.commands.bundle import run_info

    sys.exit(run_info(bundle_dir or default_bundle_dir()))


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

    \b
    Example:
    biblip models prepare
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

    \b
    Example:
    biblip models list
    """
    from biblip_cli.model.weights import list_prepared

    typer.echo("role\tname\tpath\tsize_mb\tsha256")
    for row in list_prepared():
        path = str(row.path) if row.path else "(not prepared: run `biblip models prepare`)"
        typer.echo(f"{row.role}\t{row.name}\t{path}\t{row.size_bytes / 2**20:.1f}\t{row.sha256 or '-'}")
