"""`biblip evaluate` and `biblip train`: parse options, call evaluation/ or training/."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from biblip_cli.cli_options import BundleOption, DeviceOption, LlmOption, ModelOption, TextEncoderOption
from biblip_cli.paths import default_model_dir

OutOption = Annotated[Path, typer.Option("--out", "-o", help="Folder for the tables (TSV + JSON) and cases.")]
TasksOption = Annotated[str, typer.Option(help="Comma-separated: patho,generate,rank,target,cases.")]
DataOption = Annotated[
    Path | None,
    typer.Option(help="Data folder laid out as ../shared/data (default: $BIBLIP_DATA or ../shared/data)."),
]
VariantsOption = Annotated[
    Path | None, typer.Option(help="Labels TSV (protein_variants.tsv.gz format) for patho/generate/rank.")
]
PairsOption = Annotated[
    Path | None,
    typer.Option(help="Enhancer-gene pairs TSV (CRISPR benchmark format); default Fulco 2019 K562."),
]
AbcOption = Annotated[
    Path | None, typer.Option(help="ABC predictions TSV to compare (default: the Fulco genes' file).")
]
CasesOption = Annotated[
    Path | None,
    typer.Option(help="Simulated cases (a cases.tsv or its folder) instead of simulating new ones."),
]
BackgroundOption = Annotated[
    Path | None, typer.Option(help="Background VCF for simulated cases (default: the common SNPs).")
]
HpoGenesOption = Annotated[
    Path | None, typer.Option(help="genes_to_phenotype.txt(.gz) for phenotype facts and case terms.")
]
PhenopacketsOption = Annotated[
    Path | None,
    typer.Option(help="Real cases for the cases task: phenopackets .zip, folder, or the flattened TSV(.gz)."),
]
CasesBackgroundOption = Annotated[
    int, typer.Option(help="Benign missense changes behind each real case (cases task, protein level).")
]
SplitOption = Annotated[
    str, typer.Option(help="Genes evaluated: test, val, train or all (patho, generate, rank).")
]
PairsSplitOption = Annotated[
    str,
    typer.Option(help="Genes of --pairs kept: all (Fulco 2019 is excluded from training), test, val, train."),
]
LimitOption = Annotated[int | None, typer.Option(help="Cap every task at N variants / cases / elements.")]
PathoLimitOption = Annotated[
    int | None, typer.Option(help="Variants for the patho task (seeded sample; 0 = every row).")
]
RankShortlistOption = Annotated[
    int, typer.Option(help="Candidates per case given the LLM pass of biblip rank.")
]
TargetLimitOption = Annotated[
    int | None,
    typer.Option(help="Elements for the target task (sampled, half with a regulated gene); 0 = all."),
]
NoModelOption = Annotated[bool, typer.Option("--no-model", help="Baselines only (no checkpoint needed).")]


def evaluate(
    ctx: typer.Context,
    out: OutOption = Path("evaluation"),
    tasks: TasksOption = "patho,generate,rank,target,cases",
    data: DataOption = None,
    variants: VariantsOption = None,
    pairs: PairsOption = None,
    abc: AbcOption = None,
    cases: CasesOption = None,
    background: BackgroundOption = None,
    hpo_genes: HpoGenesOption = None,
    phenopackets: PhenopacketsOption = None,
    cases_background: CasesBackgroundOption = 300,
    split: SplitOption = "test",
    pairs_split: PairsSplitOption = "all",
    limit: LimitOption = None,
    patho_limit: PathoLimitOption = 500,
    generate_limit: Annotated[int, typer.Option(help="Variants described in the generate task.")] = 32,
    n_cases: Annotated[int, typer.Option(help="Simulated cases per case set.")] = 20,
    n_decoys: Annotated[int, typer.Option(help="Random missense SNVs added to each simulated case.")] = 10,
    rank_shortlist: RankShortlistOption = 20,
    target_limit: TargetLimitOption = 200,
    seed: Annotated[int, typer.Option(help="Seed for sampling and case simulation.")] = 13,
    bundle: BundleOption = None,
    model: ModelOption = None,
    llm: LlmOption = None,
    text_encoder: TextEncoderOption = None,
    device: DeviceOption = "auto",
    batch_size: Annotated[int, typer.Option(help="Items per model batch.")] = 32,
    no_model: NoModelOption = False,
) -> None:
    """Evaluate every task beside its baselines on held-out data; one table per task (TSV + JSON in --out).

    \b
    Example:
    biblip evaluate --tasks patho,generate,rank,target --seed 13 --out evaluation/
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
        quiet=bool(ctx.obj and ctx.obj.get("quiet")),
    )
    run_evaluate(opts)


def train(
    ctx: typer.Context,
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

    \b
    Example (train_bundle from the `biblip bundle build` example; `--preset tiny` for a smoke run):
    biblip train --bundle train_bundle --out runs/default --preset default
    """
    from biblip_cli.engine.loading import set_threads
    from biblip_cli.training.train import TrainOptions
    from biblip_cli.training.train import train as run_train

    set_threads(threads)
    opts = TrainOptions(
        out=out, bundle=bundle, data=data, preset=preset, seed=seed, epochs=epochs, stage1_steps=stage1_steps,
        stage2_steps=stage2_steps, batch1=batch1, batch2=batch2, resume=resume, device=device,
        max_minutes=max_minutes, llm_dir=llm, text_encoder_dir=text_encoder, init_from=init_from,
        max_train_genes=max_train_genes, progress=not (ctx.obj and ctx.obj.get("quiet")),
    )  # fmt: skip
    result = run_train(opts)
    if result is None:
        typer.echo(f"interrupted: state saved in {out}/last; continue with --resume", err=True)
        sys.exit(3)
    typer.echo(f"checkpoint written to {result}", err=True)
