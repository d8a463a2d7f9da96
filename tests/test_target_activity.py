"""Element tables with chromatin activity: reading them, the ABC-style score, the activity in the model."""

from __future__ import annotations

import logging
import math
from pathlib import Path

import numpy as np
import pytest

from biblip_cli import metrics
from biblip_cli.commands.target_bed import read_bed
from biblip_cli.engine.target_head import Logistic, TargetHead
from biblip_cli.errors import BiblipError
from biblip_cli.features.activity import abc_style, activity_features, activity_value, contact, normalise_abc
from biblip_cli.io.datasets import read_pairs
from biblip_cli.records import ElementActivity

TABLE = (
    "chr\tstart\tend\tname\tclass\tDHS.RPM\tH3K27ac.RPM\n"
    "chr20\t96000\t96500\te1\tdistal\t4.0\t9.0\n"
    "chr20\t196000\t196500\te2\tdistal\tNA\t2.5\n"
    "chr20\t296000\t296500\te3\tgenic\t\t\n"
)


def test_element_table_with_activity_columns(tmp_path: Path, caplog) -> None:
    (tmp_path / "e.tsv").write_text(TABLE)
    with caplog.at_level(logging.WARNING):
        elements = list(read_bed(tmp_path / "e.tsv"))
    assert [e.name for e in elements] == ["e1", "e2", "e3"]
    assert elements[0].activity == ElementActivity(dhs=4.0, h3k27ac=9.0)
    assert elements[1].activity == ElementActivity(h3k27ac=2.5)  # NA: not measured
    assert elements[2].activity is None
    assert "class" in caplog.text and caplog.text.count("ignoring") == 1  # one warning for unknown columns


def test_element_table_bad_value_names_line_and_column(tmp_path: Path) -> None:
    (tmp_path / "e.tsv").write_text(TABLE.replace("2.5", "high"))
    with pytest.raises(BiblipError) as err:
        list(read_bed(tmp_path / "e.tsv"))
    assert "column H3K27ac.RPM" in str(err.value) and err.value.where.endswith("e.tsv:3")
    (tmp_path / "neg.tsv").write_text(TABLE.replace("4.0", "-1"))
    with pytest.raises(BiblipError, match="DHS.RPM"):
        list(read_bed(tmp_path / "neg.tsv"))


def test_plain_bed_has_no_activity(tmp_path: Path) -> None:
    (tmp_path / "e.bed").write_text("track name=x\nchr20\t96000\t96500\tone\nchr20\t196000\t196100\n")
    elements = list(read_bed(tmp_path / "e.bed"))
    assert [(e.name, e.activity) for e in elements] == [("one", None), ("chr20:196000-196100", None)]


def test_hash_header_and_benchmark_names(tmp_path: Path) -> None:
    (tmp_path / "e.tsv").write_text("#chrom\tchromStart\tchromEnd\tATAC.RPM\nchr1\t10\t20\t3\n")
    (element,) = read_bed(tmp_path / "e.tsv")
    assert (element.chrom, element.start0, element.end0, element.activity) == (
        "chr1",
        10,
        20,
        ElementActivity(atac=3.0),
    )


def test_abc_style_is_activity_times_power_law_contact() -> None:
    a = ElementActivity(dhs=4.0, h3k27ac=9.0)
    assert activity_value(a) == pytest.approx(6.0)
    assert activity_value(ElementActivity(atac=2.0, h3k27ac=8.0)) == pytest.approx(4.0)  # ATAC stands in
    assert contact(1_000) == contact(5_000) == 1.0  # the 5 kb floor
    assert contact(50_000) == pytest.approx(10**-0.87)
    assert abc_style(a, -50_000) == pytest.approx(6.0 * 10**-0.87)
    assert abc_style(None, 1000) is None
    assert normalise_abc([1.0, 3.0, 2.0], ["A", "A", "B"]).tolist() == [0.25, 0.75, 1.0]


def test_activity_features_layout() -> None:
    assert not activity_features(None, 1000).any()
    f = activity_features(ElementActivity(dhs=4.0), 20_000)
    assert f[0] == pytest.approx(math.log1p(4.0) / 5) and f[1] == 1.0 and f[2] == f[3] == 0.0
    more = activity_features(ElementActivity(dhs=40.0), 20_000)
    assert more[6] > f[6] and more[7] > f[7]


def test_pairs_file_reads_activity_and_cell_type(tmp_path: Path) -> None:
    (tmp_path / "p.tsv").write_text(
        "chrom\tchromStart\tchromEnd\tmeasuredGeneSymbol\tRegulated\tstartTSS\tCellType\tDHS.RPM\tH3K27ac.RPM\n"
        "chr1\t100\t600\tG1\tTRUE\t5000\tK562\t1.5\t2\n"
        "chr1\t100\t600\tG2\tFALSE\t90000\tGM12878\t1.5\t2\n"
    )
    pairs = read_pairs(tmp_path / "p.tsv")
    assert [p.cell_type for p in pairs] == ["K562", "GM12878"]
    assert pairs[0].activity == ElementActivity(dhs=1.5, h3k27ac=2.0)


def test_target_head_uses_activity_only_where_measured() -> None:
    head = TargetHead(
        Logistic((-1.0, -0.5, 0.0, 1.0, 0.5), 0.0),  # with activity: ABC-style and the head logit count
        Logistic((-1.0, -0.5, 0.5), 0.0),
    )
    low, high = ElementActivity(dhs=1.0, h3k27ac=1.0), ElementActivity(dhs=50.0, h3k27ac=50.0)
    s = head.log_odds([10_000.0] * 3, [0, 0, 0], [low, high, None], [0.2, 0.2, 0.2])
    assert s[1] > s[0]  # more activity, higher score
    assert s[2] == pytest.approx(-math.log10(11_000) + 0.1)  # no activity: the other model


def test_precision_at_recall() -> None:
    y = np.array([1, 0, 1, 0, 0, 1])
    s = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.4])
    assert metrics.precision_at_recall(y, s, 0.6) == pytest.approx(2 / 3)
    assert metrics.precision_at_recall(y, s, 0.7) == pytest.approx(0.5)
    assert math.isnan(metrics.precision_at_recall([0, 0], [1, 2], 0.7))


def test_shipped_model_scores_follow_the_element_activity(tmp_path: Path, resources: Path) -> None:
    """`biblip target --elements` with the shipped checkpoint: the same element scores higher for its
    nearest gene with more activity, and a plain BED row (no activity) still gets a score."""
    import subprocess
    import sys

    table = tmp_path / "elements.tsv"
    table.write_text(
        "chr\tstart\tend\tname\tDHS.RPM\tH3K27ac.RPM\n"
        "chr20\t96000\t96500\tlow\t0.5\t0.5\n"
        "chr20\t96000\t96500\thigh\t40\t60\n"
        "chr20\t96000\t96500\tnone\t\t\n"
    )
    out = tmp_path / "t.tsv"
    run = subprocess.run(  # noqa: PLW1510 - the test checks returncode
        [sys.executable, "-m", "biblip_cli.cli", "-q", "target", "--elements", str(table), "--tsv", str(out),
         "--threads", "1"],
        capture_output=True, text=True, cwd=tmp_path,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-2000:]
    rows = [line.split("\t") for line in out.read_text().splitlines()[1:]]
    by = {(r[3], r[4]): float(r[6]) for r in rows}
    genes = {r[4] for r in rows}
    assert genes and all(("low", g) in by and ("high", g) in by and ("none", g) in by for g in genes)
    nearest = min(rows, key=lambda r: abs(int(r[5])))[4]
    assert by[("high", nearest)] > by[("low", nearest)]
    assert by[("none", nearest)] not in (by[("high", nearest)], by[("low", nearest)])
