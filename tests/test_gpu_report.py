"""benchmarks/gpu_report.py on a fabricated GPU run folder: the FLOPs, peak and utilisation maths, no GPU."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

# SmolLM2-135M-Instruct + the shipped checkpoint, as benchmarks/model_forward.py --json records them
FACTS = {
    "num_query_tokens": 4,
    "modality_tokens": 27,
    "encoder_params": 616_320,
    "qformer_params": 3_687_936,
    "projection_params": 148_032,
    "llm_name": "SmolLM2-135M-Instruct",
    "llm_dtype": "bfloat16",
    "llm_non_embedding_params": 106_203_456,
    "llm_vocab_size": 49_152,
    "llm_hidden_size": 576,
    "tail_tokens": 3,
    "tokens_per_allele": 7,
    "measured_flops_per_allele": {"qformer_prefix": 60_587_712.0, "llm_score": 1_566_687_744.0},
}
LLM_FLOPS = 2 * 106_203_456 * 7 + 2 * 49_152 * 576  # 1,543,471,488
QFORMER_FLOPS = 2 * 616_320 * 27 + 2 * (3_687_936 + 148_032) * 4  # 63,969,024


@pytest.fixture(scope="module")
def report():
    spec = importlib.util.spec_from_file_location("gpu_report", REPO / "benchmarks" / "gpu_report.py")
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    sys.modules["gpu_report"] = module  # its dataclasses look their module up while being defined
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    yield module
    sys.modules.pop("gpu_report", None)


def e2e_row(alleles: int, scored: int, seconds: float) -> dict:
    return {
        "mode": "llm", "alleles": alleles, "seconds": seconds, "peak_rss_mib": 2000.0, "model_scored": scored,
        "alleles_per_s": alleles / seconds, "model_scored_per_s": scored / seconds,
    }  # fmt: skip


def fake_run(folder: Path, card: str = "NVIDIA H200") -> Path:
    """The files gpu_run.sh leaves, with round numbers."""
    folder.mkdir()
    (folder / "card.csv").write_text(
        f"name, memory.total [MiB], driver_version\n{card}, 143771 MiB, 550.90.07\n"
    )
    (folder / "meta.env").write_text(
        "date_utc=2026-12-02 10:00 UTC\nhost=gpu1, 16 CPU cores\ncommit=abc1234\n"
    )
    forward = {
        "date_utc": "2026-12-02 10:01", "machine": card, "device": "cuda", "torch": "2.13.0+cu128",
        "cuda": "12.8", "command": "python benchmarks/model_forward.py --device cuda", "peak_gpu_mib": 5000.0,
        "model": FACTS,
        "rows": [{"batch": 256, "cheap_per_s": 50_000.0, "full_per_s": 10_000.0, "full_per_cpu_s": 9_000.0,
                  "cheap_per_cpu_s": 40_000.0, "llm_tokens_per_cpu_s": 63_000.0, "llm_alone_per_s": 12_000.0}],
    }  # fmt: skip
    (folder / "forward.json").write_text(json.dumps(forward))
    (folder / "util_forward.csv").write_text("10 %, 1000 MiB\n0 %, 900 MiB\n[N/A], [N/A]\n90 %, 2000 MiB\n")
    # batch 256: 20,000 alleles (10,000 scored) in 12 s, 100,000 (50,000 scored) in 14 s -> marginal 20,000/s
    (folder / "e2e_b256_llm.json").write_text(
        json.dumps([e2e_row(20_000, 10_000, 12.0), e2e_row(100_000, 50_000, 14.0)])
    )
    (folder / "util_b256_llm.csv").write_text("50 %, 3000 MiB\n70 %, 4096 MiB\n")
    # batch 512 was cut short: only its stderr log, one row finished
    (folder / "e2e_b512_llm.log").write_text(
        "some warning\n" + json.dumps(e2e_row(20_000, 10_000, 10.0)) + "\n"
    )
    (folder / "skipped.tsv").write_text(
        "512\tllm\tstopped by the time budget after 30s\n1024\tllm\ttime budget (540s): 5s left\n"
    )
    return folder


def test_flops_per_allele(report) -> None:
    assert report.llm_flops_per_allele(106_203_456, 7, 49_152, 576) == LLM_FLOPS == 1_543_471_488
    assert report.qformer_flops_per_allele(616_320, 27, 3_687_936, 148_032, 4) == QFORMER_FLOPS == 63_969_024
    flops = report.flops_from_facts(FACTS)
    assert flops.llm == LLM_FLOPS and flops.qformer == QFORMER_FLOPS
    assert flops.total == LLM_FLOPS + QFORMER_FLOPS
    # the estimate is within a few % of what torch's FlopCounterMode counted on the CPU (attention not counted)
    measured = FACTS["measured_flops_per_allele"]
    assert abs(flops.llm / measured["llm_score"] - 1) < 0.03
    assert abs(flops.qformer / measured["qformer_prefix"] - 1) < 0.1
    no_llm = report.flops_from_facts({k: v for k, v in FACTS.items() if not k.startswith("llm")})
    assert no_llm.llm is None and no_llm.total is None


def test_fraction_of_peak(report) -> None:
    total = LLM_FLOPS + QFORMER_FLOPS
    assert report.fraction_of_peak(10_000, total, 989.0) == pytest.approx(10_000 * total / 989e12)
    assert report.fraction_of_peak(10_000, total, 989.0) == pytest.approx(0.016253, rel=1e-4)
    assert report.fraction_of_peak(10_000, total, None) is None
    assert report.fraction_of_peak(None, total, 989.0) is None
    assert report.fraction_of_peak(float("nan"), total, 989.0) is None


@pytest.mark.parametrize(
    "name, expected",
    [
        ("NVIDIA H100 80GB HBM3", ("H100 SXM", 989.0)),
        ("NVIDIA H100 SXM5 80GB", ("H100 SXM", 989.0)),
        ("NVIDIA H200", ("H200 SXM", 989.0)),
        ("NVIDIA H100 PCIe", None),
        ("NVIDIA H100 NVL", None),
        ("NVIDIA H200 NVL", None),
        ("NVIDIA GH200 480GB", None),
        ("NVIDIA A100-SXM4-80GB", None),
    ],
)
def test_peak_from_card_name(report, name: str, expected) -> None:
    assert report.peak_tflops_for(name) == expected


def test_utilisation_and_marginal_rate(report, tmp_path: Path) -> None:
    log = tmp_path / "util.csv"
    log.write_text("10 %, 1000 MiB\n0 %, 900 MiB\n[N/A], [N/A]\n90 %, 2000 MiB\n")
    util = report.read_utilisation(log)
    assert util.samples == 3
    assert util.mean == pytest.approx(100 / 3) and util.busy_mean == 50 and util.max == 90
    assert util.max_memory_mib == 2000
    assert report.read_utilisation(tmp_path / "missing.csv") is None
    rows = [e2e_row(100_000, 50_000, 14.0), e2e_row(20_000, 10_000, 12.0)]
    assert report.marginal_rate(rows) == pytest.approx(20_000)
    assert report.marginal_rate(rows[:1]) is None


def test_table(report, tmp_path: Path, capsys) -> None:
    folder = fake_run(tmp_path / "run")
    assert report.main([str(folder)]) == 0
    table = (folder / "gpu_table.md").read_text()
    assert table == capsys.readouterr().out.removesuffix("\n")
    assert "# GPU throughput: NVIDIA H200" in table
    assert "989 TFLOP/s (H200 SXM data sheet)" in table
    assert "= 1.543 GFLOP" in table and "= 64.0 MFLOP" in table and "total: 1.607 GFLOP per allele" in table
    # forward: 10,000/s x 1.607 GFLOP / 989 TFLOP/s; LLM alone 12,000/s x 1.543 GFLOP
    assert "| 256 | 50,000 | 10,000 | 1.63% | 12,000 | 1.87% |" in table
    assert "33 / 50 / 90" in table  # forward utilisation: mean / busy mean / max of 10, 0, 90 %
    # end to end: marginal 20,000/s x 1.607 GFLOP / 989 TFLOP/s = 3.25%
    assert (
        "| 256 | llm | 100,000 | 50,000 | 14.0 | 7,143 | 3,571 | 20,000 | 3.25% | 60 / 60 / 70 | 4,096 |"
        in table
    )
    assert "| 512 | llm | 20,000 | 10,000 | 10.0 | 2,000 | 1,000 |" in table  # from the stderr log
    assert "cut short: stopped by the time budget after 30s" in table
    assert "| 1024 | llm | | | not run: time budget (540s): 5s left |" in table
    assert "whole run (start-up included): best 3,571/s at batch 256: **not met**" in table
    assert "marginal (start-up excluded): best 20,000/s at batch 256: **met**" in table
    assert (
        "forward only (Q-former + LLM score, no feature building): best 10,000/s at batch 256: not met"
        in table
    )


def test_unknown_card_needs_a_peak(report, tmp_path: Path) -> None:
    folder = fake_run(tmp_path / "run", card="NVIDIA H100 PCIe")
    assert report.main([str(folder)]) == 0
    assert "unknown: pass --peak-tflops" in (folder / "gpu_table.md").read_text()
    assert "| 256 | 50,000 | 10,000 | n/a | 12,000 | n/a |" in (folder / "gpu_table.md").read_text()
    assert report.main([str(folder), "--peak-tflops", "500"]) == 0
    assert "500 TFLOP/s (--peak-tflops)" in (folder / "gpu_table.md").read_text()
    assert report.main(["--peak-for", "NVIDIA H100 PCIe"]) == 2
    assert report.main(["--peak-for", "NVIDIA H100 PCIe", "--peak-tflops", "500"]) == 0
    assert report.main(["--peak-for", "NVIDIA H100 80GB HBM3"]) == 0
