"""`biblip evaluate`: every zero-shot task beside its baselines, on the same held-out cases.

Tasks (each one table, printed on stderr and written as `<task>.tsv` + `<task>.json` in `--out`):
- patho:    pathogenicity of labelled protein variants of held-out genes (AUROC, AUPRC);
- generate: field accuracy of generated variant descriptions, Bio-BLIP vs the LLM given words;
- rank:     simulated Mendelian cases, top-1/5/10 recall of the causal allele and gene;
- target:   CRISPRi enhancer-gene pairs, AUPRC and top-1 accuracy per element;
- cases:    published phenopacket-store patients with their own HPO terms (real_cases.py): phenotype-only
            gene ranking, the causal missense among benign polymorphisms, and `biblip rank` on a VCF for the
            cases whose variants lie in the bundle's sequence.
Every input is a file in a shared-data format (see cases.py), so a new hold-out file of the same
format is evaluated by pointing the option at it. Model calls go through `ModelMethods` (one
place that knows the engine's API); `--no-model` runs the baselines alone. This module is the run
alone: each task lives in its own module (patho, generation, ranking_task, targets).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from biblip_cli.engine.loading import EngineSpec, load_engine
from biblip_cli.errors import BiblipError, UsageError
from biblip_cli.evaluation import baselines
from biblip_cli.evaluation.cases import read_gene_disease_counts, read_gene_phenotypes
from biblip_cli.evaluation.gene_splits import GeneSplits
from biblip_cli.evaluation.generation import evaluate_generation
from biblip_cli.evaluation.labels import select_labels
from biblip_cli.evaluation.methods import ModelMethods
from biblip_cli.evaluation.options import TASKS, EvaluateOptions
from biblip_cli.evaluation.output import print_table, write_summary, write_table
from biblip_cli.evaluation.patho import evaluate_pathogenicity, has_protein
from biblip_cli.evaluation.ranking_task import evaluate_ranking, prepare_case_sets
from biblip_cli.evaluation.table import TaskTable
from biblip_cli.evaluation.targets import evaluate_targets, select_pairs
from biblip_cli.io.datasets import LabeledVariant, read_labels, read_pairs
from biblip_cli.records import Allele, AlleleAnnotation

__all__ = ["EvaluateOptions", "run_evaluate"]

log = logging.getLogger(__name__)


def _load_engine(opts: EvaluateOptions, bundle: Any) -> Any:
    spec = EngineSpec(opts.model_dir, opts.llm_dir, opts.text_encoder_dir, opts.device)
    return load_engine(bundle, spec, without_model="run with --no-model for the baselines")


def _phenotypes_lookup(
    opts: EvaluateOptions, bundle: Any
) -> tuple[Callable[[str], list[str]], dict[str, dict[str, str]]]:
    """Gene -> HPO phenotype names: the --hpo-genes / data file (genome-wide) else the bundle's."""
    path = opts.data_file(opts.hpo_genes, "hpo_genes") or (
        bundle.path("hpo_genes") if bundle is not None else None
    )
    gene_terms = read_gene_phenotypes(path) if path is not None else {}

    def names(gene: str) -> list[str]:
        return sorted(gene_terms.get(gene, {}).values())

    return names, gene_terms


@dataclass
class _Run:
    """What every task of one run reads: the options, bundle, model, split, labels and HPO links."""

    opts: EvaluateOptions
    bundle: Any
    model: ModelMethods | None
    splits: GeneSplits
    annotate: Callable[[Allele], AlleleAnnotation]
    ontology: Any
    labels: list[LabeledVariant] | None
    labels_path: Path | None
    phenotypes_of: Callable[[str], list[str]]
    gene_terms: dict[str, dict[str, str]]
    out_dir: Path
    progress: Callable[[int], None] | None = None  # the running task's `RunProgress.advance`


def _run_patho(run: _Run) -> TaskTable:
    opts, limit, bundle = run.opts, run.opts.limit, run.bundle
    if run.labels is None:
        raise UsageError("the patho task needs --variants (a labels TSV) or --data", hint="see DATA.md")
    cap = limit if limit is not None else (opts.patho_limit or None)  # 0 = every row
    selected, stats = select_labels(
        run.labels,
        run.splits,
        opts.split,
        cap,
        opts.seed,
        always=lambda gene: has_protein(bundle, gene),
        by_gene=True,
    )
    prior_path = opts.data_file(opts.hpo_genes, "hpo_genes") or bundle.path("hpo_genes")
    counts = read_gene_disease_counts(prior_path) if prior_path is not None else None
    table = evaluate_pathogenicity(selected, run.model, bundle, stats, counts, run.out_dir)
    table.notes.append(f"genes kept: split '{opts.split}' ({run.splits.source}); file {run.labels_path}")
    return table


def _run_generate(run: _Run) -> TaskTable:
    opts, limit = run.opts, run.opts.limit
    if run.labels is None:
        raise UsageError("the generate task needs --variants (a labels TSV) or --data")
    cap = limit if limit is not None else opts.generate_limit
    selected, _ = select_labels(run.labels, run.splits, opts.split, cap, opts.seed + 1)
    if run.ontology is None and run.model is not None:
        from biblip_cli.features.phenotype import HpoOntology

        try:
            run.ontology = HpoOntology.from_bundle(run.bundle)
        except (
            BiblipError,
            AttributeError,
        ) as err:  # a bundle without the HPO: the note in the table says so
            log.warning("generate: no HPO ontology (%s)", err)
    knowledge = getattr(run.bundle, "knowledge", None) or {}
    return evaluate_generation(selected, run.model, run.phenotypes_of, run.out_dir, knowledge, run.ontology)


def _run_rank(run: _Run) -> TaskTable:
    opts = run.opts
    case_sets, notes = prepare_case_sets(opts, run.bundle, run.labels, run.splits, run.gene_terms)
    if run.ontology is None:
        from biblip_cli.features.phenotype import HpoOntology

        run.ontology = HpoOntology.from_bundle(run.bundle)
    table = evaluate_ranking(
        case_sets, run.model, run.annotate, run.ontology, opts.seed, run.out_dir, opts.rank_shortlist,
        run.progress,
    )  # fmt: skip
    table.notes[:0] = notes
    return table


def _run_target(run: _Run) -> TaskTable:
    opts, limit = run.opts, run.opts.limit
    pairs_path = opts.data_file(opts.pairs, "pairs")
    if pairs_path is None:
        raise UsageError("the target task needs --pairs (a CRISPR benchmark TSV) or --data")
    cap = limit if limit is not None else (opts.target_limit or None)
    pairs = select_pairs(read_pairs(pairs_path), run.splits, opts.pairs_split, cap, opts.seed)
    abc_path = opts.data_file(opts.abc, "abc") if opts.abc is not None or opts.pairs is None else None
    abc = baselines.AbcScores(abc_path) if abc_path is not None else None
    table = evaluate_targets(pairs, run.model, run.bundle, abc)
    table.notes.append(
        f"pairs: {pairs_path} (ValidConnection TRUE, split '{opts.pairs_split}'); ABC: {abc_path or 'none'}"
    )
    return table


def _run_cases(run: _Run) -> list[TaskTable]:
    from biblip_cli.evaluation.real_case_vcfs import benign_alleles, build_real_cases, sequence_check
    from biblip_cli.evaluation.real_cases import evaluate_gene_ranking, evaluate_protein_cases, protein_cases
    from biblip_cli.io.case_records import read_case_records

    opts = run.opts
    path = opts.data_file(opts.phenopackets, "phenopackets")
    if path is None:
        raise UsageError(
            "the cases task needs --phenopackets (a zip, folder or TSV) or --data", hint="see DATA.md"
        )
    records = read_case_records(path)
    if run.ontology is None:
        from biblip_cli.features.phenotype import HpoOntology

        run.ontology = HpoOntology.from_bundle(run.bundle)
    tables = [evaluate_gene_ranking(records, run.ontology, run.splits, limit=opts.limit or 0)]
    tables[0].notes.append(f"cases: {path}")
    if run.labels is not None:
        try:
            proteins = dict(run.bundle.proteins)
        except (AttributeError, BiblipError):  # a bundle without the proteins role
            proteins = {}
        chosen, stats = protein_cases(records, proteins)
        if opts.limit:
            chosen = chosen[: opts.limit]
        scorers = {}
        if run.model is not None:
            scorers = {
                "biblip": run.model.pathogenicity,
                "biblip Q-former head (no LLM)": run.model.cheap_pathogenicity,
            }
        table = evaluate_protein_cases(
            chosen, run.labels, run.ontology, scorers, run.splits, opts.cases_background, opts.seed
        )
        table.notes.append(f"case selection: {stats}")
        tables.append(table)
        background = opts.data_file(opts.background, "background")
        real = []
        if background is not None:
            real = build_real_cases(
                records, sequence_check(run.bundle), background, benign_alleles(run.labels, run.bundle),
                run.out_dir / "real_cases", run.splits, opts.seed, opts.limit or 0,
            )  # fmt: skip
        if real:
            sets: dict[str, list] = {}
            for case in real:
                held = case.gene_split in ("test", "val")
                sets.setdefault(
                    "real cases, held-out genes" if held else "real cases, genes seen in training", []
                ).append(case)
            ranked = evaluate_ranking(
                sets, run.model, run.annotate, run.ontology, opts.seed, run.out_dir, opts.rank_shortlist,
                run.progress,
            )  # fmt: skip
            ranked.task, ranked.title = (
                "cases_rank",
                "Real cases in the bundle's sequence: biblip rank on a VCF",
            )
            tables.append(ranked)
        else:
            tables[0].notes.append(
                "no case has all its causal variants in the bundle's sequence: no VCF-level table"
            )
    return tables


#: what a task's progress counts: cases ranked, else model items scored (the batches of ModelMethods)
_PROGRESS_UNITS = {"rank": "cases"}

_RUNNERS: dict[str, Callable[[_Run], TaskTable | list[TaskTable]]] = {
    "patho": _run_patho,
    "generate": _run_generate,
    "rank": _run_rank,
    "target": _run_target,
    "cases": _run_cases,
}


def _check_options(opts: EvaluateOptions) -> None:
    unknown = [t for t in opts.tasks if t not in TASKS]
    if unknown:
        raise UsageError(f"unknown task(s) {', '.join(unknown)}", hint=f"choose from {','.join(TASKS)}")
    choices = ("test", "val", "train", "all")
    if opts.split not in choices or opts.pairs_split not in choices:
        raise UsageError("--split/--pairs-split must be test, val, train or all")


def _prepare_run(
    opts: EvaluateOptions,
    engine: Any,
    bundle: Any,
    annotate: Callable[[Allele], AlleleAnnotation] | None,
    ontology: Any,
) -> _Run:
    """Open the bundle, load the engine (unless given or --no-model) and read the labels once for all tasks."""
    out_dir = Path(opts.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    if bundle is None:
        from biblip_cli.bundle import Bundle

        bundle = Bundle.open(opts.bundle_dir)
    if engine is None and not opts.no_model:
        engine = _load_engine(opts, bundle)
    model = ModelMethods(engine, bundle, opts.batch_size) if engine is not None else None
    splits = GeneSplits(bundle, model.metadata if model is not None else None)
    if annotate is None:
        from biblip_cli.features.consequence import annotate_allele

        def annotate(allele: Allele) -> AlleleAnnotation:
            return annotate_allele(bundle, allele)

    labels: list[LabeledVariant] | None = None
    labels_path = opts.data_file(opts.variants, "labels")
    if labels_path is not None and {"patho", "generate", "rank", "cases"} & set(opts.tasks):
        labels = read_labels(labels_path)
    phenotypes_of, gene_terms = _phenotypes_lookup(opts, bundle)
    return _Run(
        opts,
        bundle,
        model,
        splits,
        annotate,
        ontology,
        labels,
        labels_path,
        phenotypes_of,
        gene_terms,
        out_dir,
    )


def _run_task(run: _Run, task: str) -> TaskTable | list[TaskTable]:
    """One task with its progress: a bar on a terminal, else a log line every ~10 s (progress.py)."""
    from biblip_cli.progress import RunProgress

    unit = _PROGRESS_UNITS.get(task, "items")
    with RunProgress(f"evaluate {task}", unit=unit, quiet=run.opts.quiet) as progress:
        run.progress = progress.advance
        if run.model is not None:  # the rank task counts its cases, not the model calls of `biblip rank`
            run.model.progress = progress.advance if unit == "items" else None
        try:
            return _RUNNERS[task](run)
        finally:
            run.progress = None
            if run.model is not None:
                run.model.progress = None


def run_evaluate(
    opts: EvaluateOptions,
    *,
    engine: Any = None,
    bundle: Any = None,
    annotate: Callable[[Allele], AlleleAnnotation] | None = None,
    ontology: Any = None,
) -> list[TaskTable]:
    """Run the chosen tasks and write their tables; the injectable parts serve tests."""
    started = time.perf_counter()
    _check_options(opts)
    run = _prepare_run(opts, engine, bundle, annotate, ontology)
    tables: list[TaskTable] = []
    seconds: dict[str, float] = {}
    for task in TASKS:
        if task not in opts.tasks:
            continue
        task_started = time.perf_counter()
        log.info("evaluate: task %s", task)
        result = _run_task(run, task)
        seconds[task] = round(time.perf_counter() - task_started, 1)
        for table in result if isinstance(result, list) else [result]:
            table.extra["seconds"] = seconds[task]
            table.notes.append(f"{seconds[task]:.0f} s (task {task})")
            write_table(run.out_dir, table)  # each table lands as soon as its task is done
            print_table(table)
            tables.append(table)
    summary = {
        "command": opts.command_line,
        "seed": opts.seed,
        "tasks": list(opts.tasks),
        "split": opts.split,
        "split_source": run.splits.source,
        "model": None if run.model is None else str(opts.model_dir),
        "bundle": str(getattr(run.bundle, "dir", "")),
        "seconds": round(time.perf_counter() - started, 1),
        "task_seconds": seconds,
        "tables": {t.task: t.rows for t in tables},  # NaN -> null in write_summary
        "notes": {t.task: t.notes for t in tables},
    }
    write_summary(run.out_dir, summary)
    return tables
