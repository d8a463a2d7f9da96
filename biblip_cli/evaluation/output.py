"""Each task's table as `<task>.tsv` + `<task>.json`, on stderr with rich, and the run's `evaluate.json`."""

from __future__ import annotations

import json
import math
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from biblip_cli.evaluation.table import TaskTable


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return "NA" if math.isnan(value) else f"{value:.4f}"
    return str(value)


def write_table(out_dir: Path, table: TaskTable) -> None:
    with open(out_dir / f"{table.task}.tsv", "w", encoding="utf-8") as fh:
        fh.write("\t".join(table.columns) + "\n")
        fh.writelines(
            "\t".join(_cell(row.get(c, "")).replace("\t", " ") for c in table.columns) + "\n"
            for row in table.rows
        )
    payload = _nan_to_none(asdict(table))
    with open(out_dir / f"{table.task}.json", "w", encoding="utf-8") as fh:
        json.dump(payload, fh, indent=1, default=_json_default, allow_nan=False)


def _json_default(value: Any) -> Any:
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(type(value))


def _nan_to_none(value: Any) -> Any:
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return None
    if isinstance(value, dict):
        return {k: _nan_to_none(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_nan_to_none(v) for v in value]
    return value


def print_table(table: TaskTable) -> None:
    from rich.console import Console
    from rich.table import Table

    rich_table = Table(title=table.title, header_style="bold")
    shown = [c for c in table.columns if c != "note"]
    for column in shown:
        rich_table.add_column(
            column, justify="right" if column not in ("method", "subset", "cases") else "left"
        )
    for row in table.rows:
        rich_table.add_row(*(_cell(row.get(c, "")) for c in shown))
    console = Console(stderr=True)
    if not console.is_terminal:
        console = Console(stderr=True, width=160)
    console.print(rich_table)
    for note in table.notes:
        console.print(f"  [dim]{note}[/dim]", highlight=False)


def write_summary(out_dir: Path, summary: dict[str, Any]) -> None:
    """`evaluate.json`: the run's options, timings and every table's rows (NaN written as null)."""
    with open(out_dir / "evaluate.json", "w", encoding="utf-8") as fh:
        json.dump(_nan_to_none(summary), fh, indent=1, default=_json_default)
