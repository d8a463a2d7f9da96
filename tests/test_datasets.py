"""The one reader per data file (io/datasets.py): training and evaluation get the same records."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from biblip_cli.errors import BiblipError
from biblip_cli.evaluation.labels import LabeledVariant as EvaluationLabel
from biblip_cli.io import datasets as ds
from biblip_cli.records import ProteinVariant
from biblip_cli.training import examples as ex

LABELS = (
    "gene_symbol\thgvs_p\tref_aa\tposition\talt_aa\tlabel\tvariant_id\tdisease_names\n"
    "PANK2\tp.Arg264Trp\tr\t264\tw\tPathogenic\tVAR_1\tHARP syndrome\n"
    "PANK2 \tp.Gly521Arg\tG\t521\tR\tbenign \tVAR_2\t\n"
    "SNAP25\tp.Ile67Asn\tI\t67\tN\tuncertain\t\t\n"
    "SNAP25\tp.Ile68Asn\tI\t68\tN\tconflicting\t\t\n"
)
PAIRS = (
    "chrom\tchromStart\tchromEnd\tname\tmeasuredGeneSymbol\tstartTSS\tValidConnection\tRegulated\n"
    "chr20\t100\t600\te1\tPANK2\t5000\tTRUE\tTRUE\n"
    "20\t700\t900\te2\tSNAP25\tNA\tTRUE\tFALSE\n"
    "chr20\t950\t990\te3\tMAVS\t7000\tFALSE\tTRUE\n"
)


def _write(path: Path, text: str) -> Path:
    with gzip.open(path, "wt") as fh:
        fh.write(text)
    return path


def test_labels_one_reader_for_training_and_evaluation(tmp_path):
    path = _write(tmp_path / "labels.tsv.gz", LABELS)
    evaluation = ds.read_labels(path)  # what evaluate.run_evaluate reads
    training = ds.read_labels(path, known_only=True)  # what examples.build_examples reads
    assert [lv.label for lv in evaluation] == ["pathogenic", "benign", "uncertain", "conflicting"]
    assert training == [lv for lv in evaluation if lv.label in ds.LABELS]
    assert evaluation[0] == EvaluationLabel(
        ProteinVariant("PANK2", "p.Arg264Trp", "R", 264, "W"), "pathogenic", "VAR_1"
    )
    assert evaluation[1].variant.gene == "PANK2" and evaluation[0].is_pathogenic


def test_pairs_one_reader_for_training_and_evaluation(tmp_path):
    path = _write(tmp_path / "pairs.tsv.gz", PAIRS)
    pairs = ds.read_pairs(path)
    assert [(p.chrom, p.start0, p.end0, p.gene, p.regulated, p.tss0, p.name) for p in pairs] == [
        ("chr20", 100, 600, "PANK2", True, 5000, "e1"),
        ("chr20", 700, 900, "SNAP25", False, None, "e2"),
    ]
    assert pairs[0].element == "chr20:100-600"
    held_out = ex.HeldOutPairs.read(path)  # training's exclusion reads every row, valid or not
    assert held_out.genes == {"PANK2", "SNAP25", "MAVS"}
    assert held_out.loci == {"chr20": [(100, 600), (700, 900), (950, 990)]}


def test_reader_errors(tmp_path):
    with pytest.raises(BiblipError, match="labels file not found"):
        ds.read_labels(tmp_path / "missing.tsv")
    bad = _write(tmp_path / "bad.tsv.gz", "gene_symbol\tlabel\nPANK2\tbenign\n")
    with pytest.raises(BiblipError, match="missing column"):
        ds.read_labels(bad)


def test_shared_data_files_read_the_same_for_both(shared_data):
    labels = shared_data / "labels" / "protein_variants.tsv.gz"
    assert ds.read_labels(labels, known_only=True) == [
        lv for lv in ds.read_labels(labels) if lv.label in ds.LABELS
    ]
    fulco = ds.read_pairs(shared_data / "enhancers" / "Fulco2019_K562.GRCh38.tsv.gz", valid_only=False)
    assert len(fulco) == 5091 and all(p.chrom.startswith("chr") for p in fulco)
