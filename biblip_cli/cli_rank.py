"""`biblip rank`: parse options, call commands/rank.py."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from biblip_cli.cli_options import (
    BundleOption,
    DeviceOption,
    ForceOption,
    LlmOption,
    ModelOption,
    OverwriteInfoOption,
    TextEncoderOption,
)
from biblip_cli.errors import UsageError
from biblip_cli.paths import default_model_dir

if TYPE_CHECKING:
    from biblip_cli.commands.rank_options import RankOptions

InputArgument = Annotated[
    str | None,
    typer.Argument(
        help="The patient's VCF, VCF.gz or BCF (with GT); '-' reads stdin. Optional with --phenopacket "
        "(its VCF file is used)."
    ),
]
PhenotypeOption = Annotated[
    list[str] | None,
    typer.Option(
        "--phenotype",
        "-p",
        help="HPO ids or names, comma-separated or repeated (HP:0001250,HP:0001263 or 'seizures').",
    ),
]
PhenotypeFileOption = Annotated[
    Path | None, typer.Option(help="File with one HPO id or name per line ('#' comments).")
]
PhenopacketOption = Annotated[
    Path | None,
    typer.Option(
        help="GA4GH Phenopacket v2 (JSON, or YAML with PyYAML): observed and excluded terms, subject id "
        "and sex, and the VCF from its files."
    ),
]
SampleOption = Annotated[
    str | None,
    typer.Option(
        help="Proband sample (default: the phenopacket's subject, the only sample or the first affected in --ped)."
    ),
]
PedOption = Annotated[Path | None, typer.Option(help="PED pedigree (6 columns) for de novo and segregation.")]
ShortlistOption = Annotated[
    int,
    typer.Option(
        help="Candidates given the LLM pass after the Q-former head's first pass (default 0: the head scores "
        "every allele; it ranked as well or better on held-out and real cases, docs/rank.md)."
    ),
]
PhenotypeMatchOption = Annotated[
    bool,
    typer.Option(
        "--phenotype-match/--no-phenotype-match",
        help="Add the LLM's 'does this variant explain these phenotypes' log-odds to the score "
        "(off by default: it lowered top-1 on held-out cases, docs/evaluation.md).",
    ),
]
IncludeFilteredOption = Annotated[
    bool,
    typer.Option(
        "--include-filtered", help="Keep records whose FILTER is not PASS (default: PASS or '.' only)."
    ),
]
MinGqOption = Annotated[
    int, typer.Option(help="Drop alleles whose proband GQ is below this (where FORMAT has GQ; 0 = off).")
]
MinDpOption = Annotated[
    int, typer.Option(help="Drop alleles whose proband DP is below this (where FORMAT has DP; 0 = off).")
]
AfFieldOption = Annotated[
    list[str] | None,
    typer.Option(
        "--af-field",
        help="INFO field with the population allele frequency (repeatable; the max over fields and "
        "this allele's values is used). Default: gnomAD_AF, gnomADe_AF, gnomADg_AF, AF_popmax, MAX_AF, "
        "... when in the header; plain AF only when named.",
    ),
]
MaxAfOption = Annotated[
    float | None,
    typer.Option(
        help="Drop alleles with a population AF above this (default: 0.01 for dominant-only genes, "
        "0.02 for others; docs/rank.md, Filters)."
    ),
]
ExcludedLrOption = Annotated[
    float,
    typer.Option(
        help="Likelihood ratio per excluded phenopacket term annotated to a gene (0.25 = LIRICAL-like "
        "penalty; default 1: named in the evidence, not scored, as it hurt on real cases)."
    ),
]
OutputOption = Annotated[
    str | None,
    typer.Option("-o", "--output", help="Also write the VCF with BIOBLIP_RANK/BIOBLIP_SCORE ('-' = stdout)."),
]
OutputTypeOption = Annotated[
    str | None,
    typer.Option(
        "--output-type",
        "-O",
        metavar="v|z|b|u",
        help="v = VCF, z = bgzipped VCF, b = BCF, u = uncompressed BCF; default from the name (.vcf.gz, .bcf).",
    ),
]
GeneTsvOption = Annotated[
    Path | None, typer.Option(help="Gene-level TSV: best allele per gene, compound hets joined.")
]
JsonOutOption = Annotated[
    str | None,
    typer.Option(
        "--json", help="JSON: ranked alleles and genes, terms with sources, parameters ('-' = stdout)."
    ),
]
ThreadsOption = Annotated[
    int | None, typer.Option(help="CPU threads for the model (default: torch's choice).")
]
NoModelOption = Annotated[
    bool,
    typer.Option("--no-model", help="Rank by phenotype similarity x deleteriousness only (Exomiser-like)."),
]


def rank(
    ctx: typer.Context,
    input: InputArgument = None,
    phenotype: PhenotypeOption = None,
    phenotype_file: PhenotypeFileOption = None,
    phenopacket: PhenopacketOption = None,
    sample: SampleOption = None,
    ped: PedOption = None,
    top: Annotated[int, typer.Option(help="Rows in the ranked TSV and the HTML table.")] = 50,
    shortlist: ShortlistOption = 0,
    phenotype_match: PhenotypeMatchOption = False,
    include_filtered: IncludeFilteredOption = False,
    min_gq: MinGqOption = 20,
    min_dp: MinDpOption = 10,
    af_field: AfFieldOption = None,
    max_af: MaxAfOption = None,
    excluded_lr: ExcludedLrOption = 1.0,
    output: OutputOption = None,
    output_type: OutputTypeOption = None,
    tsv: Annotated[Path | None, typer.Option(help="Ranked allele TSV (default: stdout).")] = None,
    gene_tsv: GeneTsvOption = None,
    html: Annotated[Path | None, typer.Option(help="Self-contained HTML report.")] = None,
    json_out: JsonOutOption = None,
    bundle: BundleOption = None,
    model: ModelOption = None,
    llm: LlmOption = None,
    text_encoder: TextEncoderOption = None,
    device: DeviceOption = "auto",
    batch_size: Annotated[int, typer.Option(help="Alleles per model batch.")] = 64,
    threads: ThreadsOption = None,
    no_model: NoModelOption = False,
    overwrite_info: OverwriteInfoOption = False,
    force: ForceOption = False,
) -> None:
    """Rank a patient's variants and genes for given HPO phenotypes (Mendelian prioritisation).

    \b
    Example:
    biblip rank resources/demo.vcf.gz --phenotype HP:0001332,HP:0001260,seizures \\
      --tsv ranked.tsv --gene-tsv genes.tsv -o ranked.vcf.gz --html report.html
    """
    cli_values = {name: value for name, value in locals().items() if name != "ctx"}  # the options, by name
    from biblip_cli.commands.rank import print_summary, run_rank
    from biblip_cli.engine.loading import set_threads

    if input is None and phenopacket is None:
        raise UsageError("give a VCF or --phenopacket", hint="biblip rank case.vcf.gz -p HP:0001250")
    set_threads(threads)
    quiet = bool(ctx.obj and ctx.obj.get("quiet"))
    opts = _rank_options(**cli_values)
    from biblip_cli.progress import StageProgress

    units = {"read": "records", "score": "candidates", "LLM pass": "candidates"}
    with StageProgress("rank", units, quiet=quiet) as progress:
        result = run_rank(opts, progress=progress)
    if not quiet:
        print_summary(result)


def _rank_options(
    *,
    phenotype: list[str] | None,
    af_field: list[str] | None,
    json_out: Path | None,
    bundle: Path | None,
    model: Path | None,
    llm: Path | None,
    text_encoder: Path | None,
    threads: int | None,  # set for the process by `rank`, not an option of the run
    **same_name: Any,
) -> RankOptions:
    """`rank`'s values as RankOptions: the renamed and converted ones here, the rest by their name."""
    from biblip_cli.commands.rank_options import RankOptions

    return RankOptions(
        phenotypes=list(phenotype or []),
        json=json_out,
        af_fields=list(af_field or []),
        bundle_dir=bundle,
        model_dir=model or default_model_dir(),
        llm_dir=llm,
        text_encoder_dir=text_encoder,
        command="biblip " + " ".join(sys.argv[1:]),
        **same_name,
    )
