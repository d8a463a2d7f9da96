"""The `--html` report (ranking/report.py, cards.py, links.py, svg.py, templates/report.html.j2): gene cards
with matched terms, diseases, variants and the evidence bar, links by id, charts with axes, escaping of
hostile input, and (where Debian's `chromium` is installed) a headless render with no console errors.

The ranking is the demo VCF plus the AVP stop-gain of test_rank (with an rsID in its ID column), on the
HPO subset of test_phenotype, so it runs in seconds.
"""

from __future__ import annotations

import copy
import math
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest
from test_rank import AVP_TERMS, FakeEngine, _spiked_vcf, env  # noqa: F401 (env is a fixture)

from biblip_cli.commands.rank import RankOptions, run_rank
from biblip_cli.ranking import links, svg
from biblip_cli.ranking.report import render_report
from biblip_cli.ranking.scoring import log_odds_terms

RSID = "rs121964883"


class Page(HTMLParser):
    """Tags, ids, hrefs and the text of an HTML page, and the text under each element with an id."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.ids: list[str] = []
        self.hrefs: list[str] = []
        self.text: list[str] = []
        self.open: list[tuple[str, str | None]] = []
        self.by_id: dict[str, list[str]] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        self.tags.append(tag)
        if values.get("href"):
            self.hrefs.append(values["href"])
        if values.get("id"):
            self.ids.append(values["id"])
            self.by_id[values["id"]] = []
        if tag not in ("br", "meta", "img", "col", "input", "link"):
            self.open.append((tag, values.get("id")))

    def handle_endtag(self, tag: str) -> None:
        while self.open:
            if self.open.pop()[0] == tag:
                break

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        for _, ident in self.open:
            if ident:
                self.by_id[ident].append(data)

    def text_of(self, ident: str) -> str:
        return " ".join(" ".join(self.by_id[ident]).split())


def _parse(html: str) -> Page:
    page = Page()
    page.feed(html)
    page.close()
    return page


def _case_vcf(tmp_path: Path) -> Path:
    vcf = _spiked_vcf(tmp_path / "case.vcf")
    vcf.write_text(vcf.read_text().replace("\tSPIKE\t", f"\t{RSID}\t"))
    return vcf


@pytest.fixture(scope="module")
def ranked(env: dict, tmp_path_factory: pytest.TempPathFactory) -> dict:  # noqa: F811
    tmp = tmp_path_factory.mktemp("report")
    opts = RankOptions(
        input=str(_case_vcf(tmp)), phenotypes=[AVP_TERMS], no_model=True, top=20,
        tsv=tmp / "ranked.tsv", html=tmp / "report.html",
    )  # fmt: skip
    result = run_rank(opts, bundle=env["bundle"], ontology=env["ontology"])
    return {"result": result, "html": opts.html, "env": env}


def test_cards_terms_diseases_variants_links(ranked: dict) -> None:
    html = ranked["html"].read_text()
    page = _parse(html)
    assert html.startswith("<!DOCTYPE html>")
    cards = [i for i in page.ids if i.startswith("gene-")]
    assert cards[0] == "gene-AVP" and len(cards) == 10 == len(set(cards))
    card = page.text_of("gene-AVP")
    assert "arginine vasopressin" in card and "OMIM 192340" in card  # gene knowledge
    # matched terms: patient term -> gene term with IC
    assert "HP:0000863 Central diabetes insipidus" in card and "IC shared / term" in card
    assert "Diabetes insipidus, neurohypophyseal (NDI)" in card and "OMIM 125700" in card
    assert "chr20:3,082,633 G>T" in card and "p.Tyr164Ter" in card and "heterozygous" in card
    assert "AD: genotype fits" in card and "deleteriousness 1.00" in card
    assert ">AF</th>" not in html  # candidates carry no allele frequency: no column
    hrefs = set(page.hrefs)
    for term in ranked["result"].terms.terms:
        assert f"https://hpo.jax.org/browse/term/{term.id}" in hrefs
    assert f"https://www.ncbi.nlm.nih.gov/snp/{RSID}" in hrefs
    assert f"https://www.ncbi.nlm.nih.gov/clinvar/?term={RSID}" in hrefs
    assert {"https://omim.org/entry/192340", "https://omim.org/entry/125700", "#gene-AVP"} <= hrefs
    assert all(h.startswith(("https://", "#")) for h in hrefs)
    # self-contained: no scripts, no fetched assets
    assert "script" not in page.tags and "link" not in page.tags and "img" not in page.tags
    assert " src=" not in html and "@import" not in html and "url(" not in html
    assert "likely pathogenic" not in html and "likely benign" not in html


def test_charts_have_axes_ticks_and_labels(ranked: dict) -> None:
    html = ranked["html"].read_text()
    page = _parse(html)
    assert page.tags.count("svg") == 11  # the histogram and one evidence bar per card
    text = " ".join(page.text)
    assert "candidates (log scale)" in text and "score (deleteriousness x similarity x inheritance)" in text
    assert "1,000" in text or "100" in text  # y ticks
    card = page.text_of("gene-AVP")
    assert "ln factor" in card and "HPO similarity" in card and "deleteriousness +0.00" in card
    hist = svg.histogram([0.1, 0.2, 0.2, 0.9], [(0.9, "#1 <b>X</b>")], x_label="score", y_label="n")
    assert hist.count("<text") >= 8 and ">score</text>" in hist and ">n</text>" in hist
    assert "#1 &lt;b&gt;X&lt;/b&gt;" in hist and "<b>" not in hist
    bar = svg.stacked_bar([("a <i>", 2.0), ("b", -1.5)], x_label="log-odds")
    assert "a &lt;i&gt; +2.00" in bar and "b -1.50" in bar and "sum +0.50" in bar and "<i>" not in bar
    assert svg.nice_ticks(0.013, 0.47) == [0.0, 0.1, 0.2, 0.3, 0.4, 0.5]
    assert svg.nice_ticks(-5.3, 7.2) == [-7.5, -5.0, -2.5, 0.0, 2.5, 5.0, 7.5]


def test_hostile_sample_gene_and_ids_are_escaped(ranked: dict) -> None:
    result = copy.deepcopy(ranked["result"])
    evil = '<script>alert("x")</script>'
    result.proband = evil
    result.params["command"] = evil
    result.terms.notes.append(evil)
    for c in result.candidates:
        if c.gene == "AVP":
            c.gene = '"><img src=x onerror=alert(1)>'
            c.vcf_id = evil
    html = render_report(result, 20, ranked["env"]["ontology"], ranked["env"]["bundle"].knowledge)
    page = _parse(html)
    assert "script" not in page.tags and "img" not in page.tags
    assert "&lt;script&gt;" in html and "&lt;img src=x onerror=alert(1)&gt;" in html
    assert 'id="gene-&#34;&gt;&lt;img src=x onerror=alert(1)&gt;"' in html


def test_frequency_column_when_candidates_carry_one(ranked: dict) -> None:
    result = copy.deepcopy(ranked["result"])
    for c in result.candidates:
        c.allele_frequency = 0.00012 if c.gene == "AVP" else float("nan")
    page = _parse(render_report(result, 20, ranked["env"]["ontology"], None))
    card = page.text_of("gene-AVP")
    assert "AF" in card.split() and "0.00012" in card
    assert (
        "arginine vasopressin" not in card and "None in the bundle's gene knowledge." in card
    )  # no knowledge


def test_model_wording_and_evidence_terms_add_up(env: dict, tmp_path: Path) -> None:  # noqa: F811
    opts = RankOptions(
        input=str(_case_vcf(tmp_path)), phenotypes=[AVP_TERMS], shortlist=25, top=10, tsv=tmp_path / "r.tsv",
        html=tmp_path / "r.html", phenotype_match=True,
    )  # fmt: skip
    result = run_rank(opts, bundle=env["bundle"], ontology=env["ontology"], engine=FakeEngine())
    page = _parse((tmp_path / "r.html").read_text())
    card = page.text_of("gene-AVP")
    assert (
        "model: 0.90 (pathogenic-like)" in card and "log-odds" in card and "LLM phenotype match +2.00" in card
    )
    for c in result.candidates[:40]:
        terms = log_odds_terms(c, model=True)
        assert sum(v for _, v in terms) == pytest.approx(math.log(c.score / (1 - c.score)), abs=1e-6)
    assert log_odds_terms(result.candidates[30], True)[0][0] == "model pathogenicity"


def test_no_model_terms_add_up_to_log_score(ranked: dict) -> None:
    for c in ranked["result"].candidates[:30]:
        if c.score > 1e-6 and min(c.deleteriousness, c.similarity, c.moi) >= 1e-3:
            assert sum(v for _, v in log_odds_terms(c, model=False)) == pytest.approx(math.log(c.score))


def test_links_by_id() -> None:
    found = links.variant_ids("rs123;VCV000012345;COSV1;.")
    assert [(x.text, x.url) for x in found] == [
        ("rs123", "https://www.ncbi.nlm.nih.gov/snp/rs123"),
        ("ClinVar", "https://www.ncbi.nlm.nih.gov/clinvar/?term=rs123"),
        ("ClinVar 12345", "https://www.ncbi.nlm.nih.gov/clinvar/variation/12345/"),
        ("COSV1", ""),
    ]
    # the knowledge reader splits on ';', cutting "(KNDLRS; MIM:173650)": the pieces are joined again
    diseases = ["Kindler syndrome (KNDLRS", "MIM:173650): A skin disorder. | Kindler EB (ORPHA:2908)"]
    assert [(n, [x.text for x in ls]) for n, ls in links.disease_entries(diseases)] == [
        ("Kindler syndrome (KNDLRS)", ["OMIM 173650"]),
        ("Kindler EB", ["ORPHA 2908"]),
    ]


def test_chromium_renders_the_report_without_console_errors(ranked: dict, tmp_path: Path) -> None:
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.skip("Debian `chromium` is not installed (apt-get install chromium): no headless render")
    base = [
        chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
        f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1280,2000",
    ]  # fmt: skip
    url = ranked["html"].resolve().as_uri()
    dom = subprocess.run(
        [*base, "--enable-logging=stderr", "--v=0", "--dump-dom", url],
        capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    console = [line for line in dom.stderr.splitlines() if ":CONSOLE" in line]
    assert console == [], console
    assert 'id="gene-AVP"' in dom.stdout and "Central diabetes insipidus" in dom.stdout
    shot = tmp_path / "report.png"
    subprocess.run([*base, f"--screenshot={shot}", url], capture_output=True, timeout=120, check=True)
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000
