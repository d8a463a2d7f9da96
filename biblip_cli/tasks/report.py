"""The `rank --html` report: one self-contained HTML file (inline CSS and SVG, no scripts, no links out).

It shows the resolved phenotypes, a histogram of candidate scores with the top candidates marked,
the top-N table with evidence in words, how many candidates each pass scored, and the run parameters.
Every value from the input is HTML-escaped.
"""

from __future__ import annotations

import datetime as _dt
from html import escape
from typing import Any

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:2em;color:#222;max-width:1200px}
h1{font-size:1.5em;margin-bottom:.2em} h2{font-size:1.15em;margin-top:1.6em;border-bottom:1px solid #ddd}
table{border-collapse:collapse;font-size:.85em;width:100%} th,td{border:1px solid #ddd;padding:4px 6px;text-align:left;vertical-align:top}
th{background:#f3f5f7} tr:nth-child(even) td{background:#fafbfc} .num{text-align:right;font-variant-numeric:tabular-nums}
.muted{color:#666;font-size:.85em} .pill{display:inline-block;background:#eef3ff;border-radius:9px;padding:1px 8px;margin:2px}
.warn{color:#8a4b00}
"""


def score_histogram_svg(
    scores: list[float], marked: list[float], bins: int = 30, width: int = 640, height: int = 180
) -> str:
    """An inline SVG histogram of scores (log-scaled counts) with the marked scores as red ticks."""
    pad_l, pad_b, pad_t = 40, 28, 10
    plot_w, plot_h = width - pad_l - 10, height - pad_b - pad_t
    if not scores:
        return f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="40"><text x="10" y="25">no candidates</text></svg>'
    lo, hi = min(scores), max(scores)
    if hi <= lo:
        hi = lo + 1e-9
    counts = [0] * bins
    for s in scores:
        counts[min(bins - 1, int((s - lo) / (hi - lo) * bins))] += 1
    import math

    top = math.log1p(max(counts))
    bar_w = plot_w / bins
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" aria-label="scores">',
        f'<line x1="{pad_l}" y1="{pad_t + plot_h}" x2="{pad_l + plot_w}" y2="{pad_t + plot_h}" stroke="#444"/>',
    ]
    for i, n in enumerate(counts):
        if n == 0:
            continue
        h = plot_h * math.log1p(n) / top
        x = pad_l + i * bar_w
        parts.append(
            f'<rect x="{x:.1f}" y="{pad_t + plot_h - h:.1f}" width="{max(bar_w - 1, 1):.1f}" height="{h:.1f}" '
            f'fill="#7a9cc6"><title>{n} candidates</title></rect>'
        )
    for s in marked:
        x = pad_l + (s - lo) / (hi - lo) * plot_w
        parts.append(
            f'<line x1="{x:.1f}" y1="{pad_t}" x2="{x:.1f}" y2="{pad_t + plot_h}" stroke="#c0392b" stroke-width="1.5"/>'
        )
    parts.append(f'<text x="{pad_l}" y="{height - 8}" font-size="11">{lo:.3g}</text>')
    parts.append(
        f'<text x="{pad_l + plot_w}" y="{height - 8}" font-size="11" text-anchor="end">{hi:.3g}</text>'
    )
    parts.append(
        f'<text x="{pad_l + plot_w / 2}" y="{height - 8}" font-size="11" text-anchor="middle">score</text>'
    )
    parts.append(
        f'<text x="12" y="{pad_t + plot_h / 2}" font-size="11" transform="rotate(-90 12 {pad_t + plot_h / 2})" '
        'text-anchor="middle">count (log)</text>'
    )
    parts.append("</svg>")
    return "".join(parts)


def _table(columns: tuple[str, ...], rows: list[list[str]], numeric: set[str]) -> str:
    head = "".join(f"<th>{escape(c)}</th>" for c in columns)
    body = []
    for row in rows:
        cells = "".join(
            f'<td class="num">{escape(v)}</td>' if c in numeric else f"<td>{escape(v)}</td>"
            for c, v in zip(columns, row, strict=False)
        )
        body.append(f"<tr>{cells}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def render_report(result: Any, top: int = 50) -> str:
    """The whole report as one HTML string (`result` is a tasks.rank.RankResult)."""
    from biblip_cli import __version__
    from biblip_cli.tasks.rank import GENE_COLUMNS, TSV_COLUMNS, gene_rows, ranked_rows

    cands = result.candidates
    scores = [c.score for c in cands]
    marked = [c.score for c in cands[: min(top, 10)]]
    terms = "".join(f'<span class="pill">{escape(str(t))}</span>' for t in result.terms.terms)
    notes = "".join(f"<li>{escape(n)}</li>" for n in result.terms.notes)
    warnings = "".join(f'<li class="warn">{escape(w)}</li>' for w in result.terms.warnings)
    model_on = result.model != "none"
    counts = [
        ["records read", f"{result.records:,}"],
        ["ALT alleles", f"{result.alleles:,}"],
        ["not carried by the proband", f"{result.not_carried:,}"],
        ["not annotatable (symbolic, unknown contig, ...)", f"{result.unannotated:,}"],
        ["candidates scored by the first pass", f"{len(cands):,}"],
        ["scored by the LLM pass", f"{result.shortlisted:,}" if model_on else "0 (--no-model)"],
        ["time", f"{result.seconds:.1f} s"],
    ]
    params = [[k, v] for k, v in result.params.items() if v]
    show = [c for c in TSV_COLUMNS if c not in ("chrom", "pos", "ref", "alt")]
    rows = []
    for row in ranked_rows(result, top):
        record = dict(zip(TSV_COLUMNS, row, strict=True))
        record["gene"] = (
            f"{record['gene']} ({record['chrom']}:{record['pos']} {record['ref']}>{record['alt']})"
        )
        rows.append([record[c] for c in show])
    genes = gene_rows(result)[:top]
    now = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    mode = (
        "Bio-BLIP model + phenotype similarity"
        if model_on
        else "phenotype similarity x deleteriousness (--no-model)"
    )
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>biblip rank: {escape(result.proband or "report")}</title>
<style>{CSS}</style></head><body>
<h1>biblip rank</h1>
<p class="muted">biblip {escape(__version__)} &middot; {now} &middot; proband {escape(result.proband or "(no samples)")}
&middot; scoring: {escape(mode)}</p>
<h2>Phenotypes ({len(result.terms.terms)})</h2>
<p>{terms}</p>
<ul>{notes}{warnings}</ul>
<h2>Score distribution</h2>
<p class="muted">{len(cands):,} candidate alleles; red lines mark the top {len(marked)}.</p>
{score_histogram_svg(scores, marked)}
<h2>Top {min(top, len(cands))} candidate alleles</h2>
{_table(tuple(show), rows, {"rank", "score", "pathogenicity", "phenotype_score"})}
<h2>Genes</h2>
{_table(GENE_COLUMNS, genes, {"rank", "score", "pathogenicity", "phenotype_score", "n_candidates"})}
<h2>Counts</h2>
{_table(("what", "n"), counts, {"n"})}
<h2>Run parameters</h2>
{_table(("parameter", "value"), params, set())}
<p class="muted">Scores: see docs/rank.md. Research use only; not a clinical diagnosis.</p>
</body></html>
"""
