"""What `biblip rank` writes: the ranked and gene TSV rows with evidence in words, the VCF with
BIOBLIP_RANK/BIOBLIP_SCORE, the stderr summary, and the data of the `--html` report (the JSON document
is `json_report.py`).

The report is one self-contained HTML file (inline CSS and SVG, no scripts, no fetched assets; links by
id to HPO, OMIM, Orphanet, dbSNP and ClinVar): `templates/report.html.j2` rendered by jinja2 with
autoescape on, from the plain values `report_context` prepares here, and the charts of `svg.py`.
"""

from __future__ import annotations

import datetime as _dt
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

from markupsafe import Markup

from biblip_cli.ranking import links, svg
from biblip_cli.ranking.cards import (
    CARD_VARIANTS,
    ZYGOSITY_WORDS,
    frequency,
    gene_links,
    score_text,
    term_rows,
    variant_values,
)
from biblip_cli.records import GeneEffect

if TYPE_CHECKING:
    from biblip_cli.ranking.candidates import Candidate, RankResult

TSV_COLUMNS = (
    "rank", "gene", "chrom", "pos", "ref", "alt", "consequence", "hgvsp", "zygosity", "inheritance",
    "score", "pathogenicity", "phenotype_score", "evidence",
)  # fmt: skip
GENE_COLUMNS = (
    "rank", "gene", "score", "variants", "consequence", "hgvsp", "zygosity", "inheritance",
    "pathogenicity", "phenotype_score", "n_candidates", "evidence",
)  # fmt: skip
CARD_GENES = 10  # gene cards in the report (at most --top)


# --- HTML report ----------------------------------------------------------------------------------
def render_report(
    result: RankResult, top: int = 50, ontology: Any = None, knowledge: Any = None, cards: int = CARD_GENES
) -> str:
    """The whole report as one HTML string. `ontology` (features.phenotype.HpoOntology) gives the
    matched terms of each card, `knowledge` (Bundle.knowledge) the gene names and diseases; without
    them the cards leave those parts out."""
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("biblip_cli.ranking", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    return env.get_template("report.html.j2").render(report_context(result, top, ontology, knowledge, cards))


def ranked_genes(result: RankResult) -> list[tuple[str, float, list[Candidate]]]:
    """(gene, gene score, its candidates in rank order), best gene first: the gene's score is its best
    allele's, or for a compound het the weaker partner's."""
    by_key = {c.key: c for c in result.candidates}
    members: dict[str, list[Candidate]] = {}
    for c in result.candidates:  # already ranked
        if c.gene:
            members.setdefault(c.gene, []).append(c)
    genes = []
    for gene, cands in members.items():
        best = cands[0]
        partner = by_key.get(best.partners[0]) if best.partners else None
        genes.append((gene, min(best.score, partner.score) if partner else best.score, cands))
    genes.sort(key=lambda g: -g[1])
    return genes


def report_context(result: RankResult, top: int, ontology: Any, knowledge: Any, cards: int) -> dict[str, Any]:
    """Everything the template shows, as plain values (text, numbers, Links) and finished SVG."""
    from biblip_cli import __version__
    from biblip_cli.ranking.scoring import log_odds_terms

    model = result.model != "none"
    genes = ranked_genes(result)
    shown = genes[: min(top, cards)]
    evidence = {gene: log_odds_terms(cands[0], model) for gene, _, cands in shown}
    labels = list(dict.fromkeys(label for terms in evidence.values() for label, _ in terms))
    colors = {label: svg.PALETTE[i % len(svg.PALETTE)] for i, label in enumerate(labels)}
    ends = [0.0] + [sum(v for _, v in t if v > 0) for t in evidence.values()]
    ends += [sum(v for _, v in t if v < 0) for t in evidence.values()]
    domain = (max(min(ends), -25.0), min(max(ends), 25.0))  # one axis for all cards; floors clip at 25
    axis = "log-odds" if model else "ln factor"
    total = "logit(score)" if model else "ln(score)"
    with_freq = any(frequency(c) is not None for _, _, cands in shown for c in cands[:CARD_VARIANTS])
    by_key = {c.key: c for c in result.candidates}
    n_terms = len(result.terms.terms)
    card_list = []
    for rank, (gene, score, cands) in enumerate(shown, start=1):
        info = (knowledge or {}).get(gene)
        card_list.append(
            {
                "rank": rank, "gene": gene, "score": score_text(score), "n_candidates": len(cands),
                "name": getattr(info, "name", "") or "", "gene_links": gene_links(info),
                "modes": ", ".join(sorted(cands[0].modes)) or "none annotated",
                "similarity": f"{cands[0].similarity:.2f}",
                "matches": term_rows(ontology, result.terms.terms, gene),
                "diseases": links.disease_entries(getattr(info, "diseases", []) or []),
                "variants": [variant_values(c, model, by_key) for c in cands[:CARD_VARIANTS]],
                "evidence_svg": Markup(
                    svg.stacked_bar(evidence[gene], domain=domain, colors=colors, x_label=axis, total_label=total)
                ),
                "evidence_words": evidence_text(cands[0], n_terms, model, by_key),
            }
        )  # fmt: skip
    marked = [(score, f"#{i} {gene}") for i, (gene, score, _) in enumerate(shown, start=1)]
    scores = [c.score for c in result.candidates]
    histogram = svg.histogram(
        scores, marked, x_label="score" + ("" if model else " (deleteriousness x similarity x inheritance)"),
        title="score distribution", width=1000,
    )  # fmt: skip
    carded = {c["gene"] for c in card_list}
    params = result.params
    terms = [
        {"id": t.id, "name": t.name, "url": links.hpo_term(t.id), "source": _source(result.terms, t)}
        for t in result.terms.terms
    ]
    return {
        "version": __version__,
        "created": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "proband": result.proband or "(no samples)",
        "mode": "Bio-BLIP model + HPO similarity"
        if model
        else "HPO similarity x deleteriousness (--no-model)",
        "model": model,
        "terms": terms,
        "excluded": [
            {"id": t.id, "name": t.name, "url": links.hpo_term(t.id)} for t in _excluded(result.terms)
        ],
        "unknown": list(getattr(result.terms, "unknown", []) or []),
        "notes": list(result.terms.notes),
        "warnings": list(result.terms.warnings),
        "cards": card_list,
        "with_frequency": with_freq,
        "histogram": Markup(histogram),
        "n_candidates": len(result.candidates),
        "alleles": [dict(zip(TSV_COLUMNS, row, strict=True)) for row in ranked_rows(result, top)],
        "genes": [
            dict(zip(GENE_COLUMNS, row, strict=True), carded=row[1] in carded)
            for row in gene_rows(result)[:top]
        ],
        **_run_tables(result, params, terms, model),
    }


def _run_tables(
    result: RankResult, params: dict[str, str], terms: list[dict[str, Any]], model: bool
) -> dict[str, Any]:
    """The Provenance section's tables (run, parameters, counts): how the report was made, not what it found."""
    from biblip_cli import __version__

    return {
        "provenance": [
            ("biblip version", __version__),
            (
                "bundle",
                " ".join(x for x in (params.get("bundle_name", ""), params.get("bundle_build", "")) if x),
            ),
            ("bundle path", params.get("bundle", "")),
            ("bundle manifest sha256", params.get("bundle_manifest_sha256", "")),
            ("model", params.get("model", result.model)),
            ("phenotypes", "; ".join(f"{t['id']} [{t['source']}]" for t in terms)),
            ("command", params.get("command", "")),
        ],
        "params": [(k, v) for k, v in params.items() if v and k not in PROVENANCE_KEYS],
        "counts": [
            ("records read", f"{result.records:,}"),
            ("ALT alleles", f"{result.alleles:,}"),
            ("not carried by the proband", f"{result.not_carried:,}"),
            ("not annotatable (symbolic, unknown contig, ...)", f"{result.unannotated:,}"),
            ("candidates scored by the first pass", f"{len(result.candidates):,}"),
            ("scored by the LLM pass", f"{result.shortlisted:,}" if model else "0 (--no-model)"),
            ("time", f"{result.seconds:.1f} s"),
        ],
    }


PROVENANCE_KEYS = {"bundle", "bundle_name", "bundle_build", "bundle_manifest_sha256", "model", "command"}


# --- text outputs ---------------------------------------------------------------------------------
def _consequence_words(eff: GeneEffect | None) -> str:
    if eff is None:
        return "intergenic"
    term = eff.consequences[0] if eff.consequences else "variant"
    words = term.replace("_variant", "").replace("_", " ")
    return f"{words} {eff.hgvsp}".strip() + f" in {eff.gene}"


def model_probability_words(p: float) -> str:
    """'model: 0.83 (pathogenic-like)': a model probability, never an ACMG class name (the calibrated
    probability is not a classification; 'likely pathogenic' is an ACMG/AMP class)."""
    return f"model: {p:.2f} ({'pathogenic' if p >= 0.5 else 'benign'}-like)"


def frequency_words(c: Candidate, model: bool) -> str:
    """'population AF 0.0031 (gnomAD_AF; -0.03 log-odds)', or '' for a novel allele / no AF field."""
    af = c.allele_frequency
    if af is None or af <= 0:
        return ""
    log_odds = math.log(c.frequency_factor)
    log_odds = 0.0 if abs(log_odds) < 0.005 else log_odds  # no '-0.00'
    text = f"population AF {af:.2g} ({c.af_field}; {log_odds:+.2f} log-odds"
    return text + ("" if model else f", x{c.frequency_factor:.3g}") + ")"


def evidence_text(c: Candidate, n_terms: int, model: bool, by_key: dict[str, Candidate]) -> str:
    parts = [_consequence_words(c.effect)]
    if c.partners:
        partner = by_key.get(c.partners[0])
        desc = partner.effect.hgvsp if partner and partner.effect and partner.effect.hgvsp else c.partners[0]
        parts.append(f"compound heterozygous with {desc}")
    else:
        parts.append(ZYGOSITY_WORDS.get(c.call.zygosity, c.call.zygosity))
    if c.family:
        parts.append(c.family.replace("_", " "))
    if c.gene:
        linked = f"gene linked to {len(c.matched)}/{n_terms} patient phenotypes"
        if c.matched:
            linked += " incl. " + ", ".join(c.matched[:2])
        parts.append(linked + f" (similarity {c.similarity:.2f})")
    if c.excluded:
        lr = c.excluded_lr
        parts.append(
            f"gene annotated with excluded phenotype{'s' if len(c.excluded) > 1 else ''} "
            + ", ".join(c.excluded[:3])
            + ("" if len(c.excluded) <= 3 else f" (+{len(c.excluded) - 3})")
            + (
                " (not scored; --excluded-lr sets a penalty)"
                if lr >= 1.0
                else f" ({len(c.excluded) * math.log(lr):+.1f} log-odds"
                + ("" if model else f", x{lr ** len(c.excluded):.3g}")
                + ")"
            )
        )
    if c.modes:
        fit = "fits" if c.moi >= 1.0 else "does not fit"
        parts.append(f"{'/'.join(sorted(c.modes))} gene, genotype {fit}")
    if c.filter:
        parts.append(f"FILTER {c.filter} (kept: --include-filtered)")
    frequency = frequency_words(c, model)
    if frequency:
        parts.append(frequency)
    if model and not math.isnan(c.pathogenicity):
        text = model_probability_words(c.pathogenicity)
        if not math.isnan(c.phenotype_match):
            text += f", phenotype match {c.phenotype_match:+.1f} log-odds"
        parts.append(text)
    elif model:
        text = f"consequence prior {c.deleteriousness:.2f} (not a model pathogenicity question)"
        if not math.isnan(c.phenotype_match):
            text += f"; model phenotype match {c.phenotype_match:+.1f} log-odds"
        parts.append(text)
    else:
        parts.append(f"deleteriousness {c.deleteriousness:.2f}")
    return "; ".join(parts)


def atomic_write(path: Path, text: str) -> None:
    """The whole file through the output layer (`io/outputs.write_file`: checked directory, lock,
    unique temp file, fsync, rename; devices and `-` written through)."""
    from biblip_cli.io.outputs import write_file

    write_file(path, text)


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return "." if math.isnan(value) else f"{value:.4g}"
    return str(value).replace("\t", " ").replace("\n", " ") if value not in (None, "") else "."


def ranked_rows(result: RankResult, top: int | None = None) -> list[list[str]]:
    by_key = {c.key: c for c in result.candidates}
    n_terms = len(result.terms.terms)
    model = result.model != "none"
    rows = []
    for c in result.candidates[: top or None]:
        eff = c.effect
        inheritance = ",".join(sorted(c.modes) + ([c.family] if c.family else []))
        rows.append(
            [
                str(c.rank), c.gene or ".", c.allele.chrom, str(c.allele.pos), c.allele.ref, c.allele.alt,
                eff.consequence if eff else "intergenic_variant", (eff.hgvsp if eff else "") or ".",
                c.zygosity, inheritance or ".", f"{c.score:.4g}",
                _cell(c.pathogenicity if model else c.deleteriousness), f"{c.similarity:.3f}",
                evidence_text(c, n_terms, model, by_key),
            ]
        )  # fmt: skip
    return rows


def gene_rows(result: RankResult) -> list[list[str]]:
    """Best allele per gene; a compound het lists both alleles (its score is the weaker partner's)."""
    by_key = {c.key: c for c in result.candidates}
    n_terms = len(result.terms.terms)
    model = result.model != "none"
    rows = []
    for rank, (gene, score, cands) in enumerate(ranked_genes(result), start=1):
        c = cands[0]
        variants = [c.key] + [p for p in c.partners[:1]]
        hgvsp = (c.effect.hgvsp if c.effect else "") or "."
        if c.partners and c.partners[0] in by_key:
            partner = by_key[c.partners[0]]
            hgvsp += "+" + ((partner.effect.hgvsp if partner.effect else "") or partner.key)
        inheritance = ",".join(sorted(c.modes) + ([c.family] if c.family else []))
        rows.append(
            [
                str(rank), gene, f"{score:.4g}", "+".join(variants), c.effect.consequence if c.effect else ".",
                hgvsp, c.zygosity, inheritance or ".", _cell(c.pathogenicity if model else c.deleteriousness),
                f"{c.similarity:.3f}", str(len(cands)), evidence_text(c, n_terms, model, by_key),
            ]
        )  # fmt: skip
    return rows


def tsv_text(columns: tuple[str, ...], rows: list[list[str]]) -> str:
    return "\n".join(["\t".join(columns)] + ["\t".join(r) for r in rows]) + "\n"


def print_summary(result: RankResult) -> None:
    """Counts and the top five on stderr."""
    from rich.console import Console
    from rich.markup import escape as escape_markup
    from rich.table import Table

    console = Console(stderr=True)
    table = Table(title="biblip rank", show_header=False)
    table.add_row("proband", result.proband or "(no samples)")
    table.add_row(
        "phenotypes",
        escape_markup("; ".join(f"{t} [{_source(result.terms, t)}]" for t in result.terms.terms)),
    )
    if _excluded(result.terms):
        table.add_row("excluded", "; ".join(str(t) for t in _excluded(result.terms)))
    if getattr(result.terms, "unknown", None):
        table.add_row("skipped (unknown)", ", ".join(result.terms.unknown))
    table.add_row("records / alleles", f"{result.records:,} / {result.alleles:,}")
    table.add_row("not carried by the proband", f"{result.not_carried:,}")
    for name, value in filter_summary(result):
        table.add_row(name, value)
    table.add_row("candidates (first pass)", f"{len(result.candidates):,}")
    table.add_row("LLM pass", f"{result.shortlisted:,}" if result.model != "none" else "off (--no-model)")
    table.add_row("time", f"{result.seconds:.1f} s")
    for c in result.candidates[:5]:
        table.add_row(f"#{c.rank}", f"{c.gene or '.'} {c.allele.key} {c.score:.3g}")
    console.print(table)


def filter_summary(result: RankResult) -> list[tuple[str, str]]:
    """(row name, value) per filter for the stderr summary: removed alleles, and what was not checked."""
    f, settings = result.filters, result.filter_settings
    rows = []
    if settings.include_filtered:
        rows.append(("FILTER not PASS", f"{f.non_pass_kept:,} kept (--include-filtered)"))
    else:
        rows.append(("FILTER not PASS", f"{f.non_pass:,} removed"))
    for name, limit, low, unchecked in (
        ("GQ", settings.min_gq, f.low_gq, f.gq_not_checked),
        ("DP", settings.min_dp, f.low_dp, f.dp_not_checked),
    ):
        if limit <= 0:
            rows.append((f"{name} filter", "off"))
        else:
            rows.append((f"{name} < {limit}", f"{low:,} removed, {unchecked:,} not checked (no {name})"))
    if f.af_fields:
        rows.append(
            (
                "AF > max AF",
                (
                    f"{f.af_above_max:,} removed (max {settings.max_af_words()}); AF from {', '.join(f.af_fields)}, "
                    f"{f.af_missing:,} without a value"
                ),
            )
        )
    else:
        rows.append(("AF filter", "off" if not settings.frequency else "no AF field in the VCF"))
    return rows


def _source(terms: Any, term: Any) -> str:
    source_of = getattr(terms, "source_of", None)
    return (source_of(term) if source_of else "") or "--phenotype"


def _excluded(terms: Any) -> list[Any]:
    return list(getattr(terms, "excluded", None) or [])
