"""`--help` reads like click's (no Typer `<bool>`/`<str>`), and every example in it runs as written."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

import click
import pytest
import typer

from biblip_cli.cli import app

REPO = Path(__file__).resolve().parent.parent
COMMANDS = [["annotate"], ["merge"], ["rank"], ["target"], ["evaluate"], ["train"], ["bundle", "build"],
            ["bundle", "validate"], ["bundle", "info"], ["models", "prepare"], ["models", "list"]]  # fmt: skip
CHEAP = ("biblip merge", "--no-model", "biblip bundle info", "biblip bundle validate", "biblip models list")


def _command(path: list[str]) -> click.Command:
    command = typer.main.get_command(app)
    for name in path:
        command = command.commands[name]  # type: ignore[attr-defined]
    return command


def _help(path: list[str]) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "biblip_cli.cli", *path, "--help"],
        capture_output=True, text=True, check=True, env={**os.environ, "COLUMNS": "200"},
    )  # fmt: skip
    return done.stdout


def _examples(text: str) -> list[str]:
    """The example command lines (continuations joined)."""
    lines, out, joined = text.splitlines(), [], ""
    inside = False
    for line in lines:
        stripped = line.strip()
        if stripped.startswith("Example"):
            inside = True
            stripped = stripped.split(":", 1)[1].strip() if ": biblip" in stripped else ""
        elif inside and not stripped:
            inside = False
        if not inside or not stripped:
            continue
        joined = (joined + " " + stripped) if joined else stripped
        if joined.endswith("\\"):
            joined = joined[:-1].strip()
            continue
        if joined.startswith("biblip "):
            out.append(joined)
        joined = ""
    return out


@pytest.mark.parametrize("path", COMMANDS, ids=" ".join)
def test_help_is_readable(path: list[str]) -> None:
    text = _help(path)
    assert (
        "<bool>" not in text
        and "<str>" not in text
        and "<path>" not in text
        and "{" not in text.split("\n")[0]
    )
    command = _command(path)
    for param in command.params:
        if isinstance(param, click.Option) and param.secondary_opts and param.is_flag:
            assert f"{param.opts[-1]} / {param.secondary_opts[0]}" in text  # --explain / --no-explain


def test_every_example_parses_and_the_cheap_ones_run(tmp_path: Path) -> None:
    (tmp_path / "resources").symlink_to(REPO / "resources")
    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    found = 0
    for path in COMMANDS:
        for example in _examples(_help(path)):
            found += 1
            words = shlex.split(example)[1:]
            names = words[:2] if words[0] in ("bundle", "models") else words[:1]
            command = _command(names)
            with command.make_context(" ".join(names), words[len(names) :], resilient_parsing=False) as ctx:
                assert ctx.params is not None, example
            if any(mark in example for mark in CHEAP):
                done = subprocess.run(
                    [sys.executable, "-m", "biblip_cli.cli", "-q", *words],
                    cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300, check=False,
                )  # fmt: skip
                assert done.returncode == 0, (example, done.stderr)
    assert found >= 12
    assert (tmp_path / "whole.vcf.gz").is_file() and (tmp_path / "annotated.bcf.csi").is_file()
