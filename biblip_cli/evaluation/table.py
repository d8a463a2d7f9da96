"""The result of one evaluation task: a table of methods side by side."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class TaskTable:
    """One task's result: rows of {column: value}, one per method (and subset)."""

    task: str
    title: str
    columns: list[str]
    rows: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)
