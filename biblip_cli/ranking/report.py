"""What `biblip rank` writes: the ranked and gene TSV rows with evidence in words, the VCF with
BIOBLIP_RANK/BIOBLIP_SCORE, the stderr summary, and the `--html` report: one self-contained HTML file
(inline CSS and SVG, no scripts, no links out).

The report shows the resolved phenotypes, a histogram of candidate scores with the top candidates marked,
the top-N table with evidence in words, how many candidates each pass scored, and the run parameters.
Every value from the input is HTML-escaped.
"""

from __future__ import annotations

import datetime as _dt
import math
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING, Any

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
ZYGOSITY_WORDS = {
    "het": "heterozygous",
    "hom": "homozygous",
    "hemi": "hemizygous",
    "unknown": "genotype unknown",
}

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


def render_report(result: RankResult, top: int = 50) -> str:
    """The whole report as one HTML string (`result` is a ranking.candidates.RankResult)."""
    from biblip_cli import __version__

    cands = result.candidates
    scores = [c.score for c in cands]
    marked = [c.score for c in cands[: min(top, 10)]]
    terms = "".join(
        f'<span class="pill">{escape(str(t))} <span class="muted">[{escape(_source(result.terms, t))}]</span></span>'
        for t in result.terms.terms
    )
    excluded = "".join(f'<span class="pill">{escape(str(t))}</span>' for t in _excluded(result.terms))
    if excluded:
        terms += f"</p><p>Excluded (evidence against): {excluded}"
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
                " (not scored; --excluded-lr sets a penalty)" if lr >= 1.0
                else f" ({len(c.excluded) * math.log(lr):+.1f} log-odds" + ("" if model else f", x{lr ** len(c.excluded):.3g}") + ")"
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
    best: dict[str, Candidate] = {}
    count: dict[str, int] = {}
    for c in result.candidates:  # already ranked
        if not c.gene:
            continue
        count[c.gene] = count.get(c.gene, 0) + 1
        best.setdefault(c.gene, c)
    rows = []
    for rank, (gene, c) in enumerate(best.items(), start=1):
        variants = [c.key] + [p for p in c.partners[:1]]
        score = c.score
        hgvsp = (c.effect.hgvsp if c.effect else "") or "."
        if c.partners and c.partners[0] in by_key:
            partner = by_key[c.partners[0]]
            score = min(c.score, partner.score)
            hgvsp += "+" + ((partner.effect.hgvsp if partner.effect else "") or partner.key)
        inheritance = ",".join(sorted(c.modes) + ([c.family] if c.family else []))
        rows.append(
            [
                str(rank), gene, f"{score:.4g}", "+".join(variants), c.effect.consequence if c.effect else ".",
                hgvsp, c.zygosity, inheritance or ".", _cell(c.pathogenicity if model else c.deleteriousness),
                f"{c.similarity:.3f}", str(count[gene]), evidence_text(c, n_terms, model, by_key),
            ]
        )  # fmt: skip
    rows.sort(key=lambda r: -float(r[2]))
    for i, r in enumerate(rows, start=1):
        r[0] = str(i)
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
                f"{f.af_above_max:,} removed (max {settings.max_af_words()}); AF from {', '.join(f.af_fields)}, "
                f"{f.af_missing:,} without a value",
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


# --- JSON (--json; schema in docs/output.md) -------------------------------------------------------
JSON_SCHEMA_VERSION = "1.0"
_INT_COLUMNS = {"rank", "pos", "n_candidates"}
_FLOAT_COLUMNS = {"score", "pathogenicity", "phenotype_score"}


def _typed(columns: tuple[str, ...], row: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in zip(columns, row, strict=True):
        if value == ".":
            out[name] = None
        elif name in _INT_COLUMNS:
            out[name] = int(value)
        elif name in _FLOAT_COLUMNS:
            number = float(value)
            out[name] = None if math.isnan(number) else number
        else:
            out[name] = value
    return out


def _term_json(terms: Any, term: Any) -> dict[str, Any]:
    sources = getattr(terms, "sources", {}).get(term.id) or ["--phenotype"]
    return {"id": term.id, "name": term.name, "sources": list(sources)}


def json_document(result: RankResult, top: int | None = None) -> dict[str, Any]:
    """The `--json` document (docs/output.md, schema_version 1.0)."""
    from biblip_cli import __version__

    params = dict(result.params)
    alleles = []
    for c, row in zip(result.candidates, ranked_rows(result, top), strict=False):
        record = _typed(TSV_COLUMNS, row)
        record["matched_phenotypes"] = list(c.matched)
        record["excluded_phenotypes"] = list(c.excluded)
        record["moi_factor"] = c.moi
        record["passes"] = c.passes
        record["allele_frequency"] = c.allele_frequency
        record["af_field"] = c.af_field or None
        record["frequency_factor"] = c.frequency_factor
        record["filter"] = c.filter or "PASS"
        alleles.append(record)
    genes = [_typed(GENE_COLUMNS, row) for row in gene_rows(result)[: top or None]]
    excluded = _excluded(result.terms)
    return {
        "schema_version": JSON_SCHEMA_VERSION,
        "tool": {"name": "biblip", "command": "rank", "version": __version__},
        "created": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "bundle": {
            "name": params.get("bundle_name", ""),
            "build": params.get("bundle_build", ""),
            "path": params.get("bundle", ""),
            "manifest_sha256": params.get("bundle_manifest_sha256", ""),
        },
        "model": result.model,
        "proband": {
            "sample": result.proband,
            "sex": params.get("sex", "unknown"),
            "phenopacket": params.get("phenopacket") or None,
            "phenopacket_id": params.get("phenopacket_id") or None,
            "phenopacket_subject": params.get("phenopacket_subject") or None,
        },
        "phenotypes": [_term_json(result.terms, t) for t in result.terms.terms],
        "excluded_phenotypes": [{"id": t.id, "name": t.name, "sources": ["phenopacket"]} for t in excluded],
        "unknown_terms": list(getattr(result.terms, "unknown", []) or []),
        "warnings": list(result.terms.warnings) + list(result.filters.warnings),
        "notes": list(result.terms.notes),
        "parameters": params,
        "counts": {
            "records": result.records,
            "alleles": result.alleles,
            "not_carried": result.not_carried,
            "unannotated": result.unannotated,
            "candidates": len(result.candidates),
            "shortlisted": result.shortlisted,
            "seconds": round(result.seconds, 3),
            "filters": result.filters.as_dict(),
        },
        "alleles": alleles,
        "genes": genes,
        "interpretations": [_interpretation(result, params, INTERPRETATION_TOP)],
    }


INTERPRETATION_TOP = 10  # candidates in the phenopacket-style interpretations block
GENO = {
    "het": ("GENO:0000135", "heterozygous"),
    "hom": ("GENO:0000136", "homozygous"),
    "hemi": ("GENO:0000134", "hemizygous"),
    "compound_het": ("GENO:0000402", "compound heterozygous"),
    "possible_compound_het": ("GENO:0000135", "heterozygous"),
}


def _interpretation(result: RankResult, params: dict[str, str], top: int) -> dict[str, Any]:
    """A GA4GH Phenopacket v2 `Interpretation` (progressStatus IN_PROGRESS) listing the top candidate
    alleles as CANDIDATE genomicInterpretations, ranked as in `alleles`; paste it into the packet's
    `interpretations` to record the result."""
    subject = params.get("phenopacket_subject") or result.proband or ""
    items = []
    for c in result.candidates[:top]:
        descriptor: dict[str, Any] = {
            "id": c.key,
            "vcfRecord": {
                "genomeAssembly": params.get("bundle_build", ""),
                "chrom": c.allele.chrom,
                "pos": c.allele.pos,
                "ref": c.allele.ref,
                "alt": c.allele.alt,
            },
            "moleculeContext": "genomic",
        }
        if c.gene:
            descriptor["geneContext"] = {"valueId": c.gene, "symbol": c.gene}
        if c.effect is not None and c.effect.hgvsp:
            descriptor["expressions"] = [{"syntax": "hgvs.p", "value": c.effect.hgvsp}]
        if c.zygosity in GENO:
            geno_id, label = GENO[c.zygosity]
            descriptor["allelicState"] = {"id": geno_id, "label": label}
        items.append(
            {
                "subjectOrBiosampleId": subject,
                "interpretationStatus": "CANDIDATE",
                "variantInterpretation": {"variationDescriptor": descriptor},
            }
        )
    return {
        "id": f"biblip-rank-{params.get('phenopacket_id') or subject or 'case'}",
        "progressStatus": "IN_PROGRESS",
        "summary": f"biblip rank: top {len(items)} of {len(result.candidates)} candidate alleles (rank order)",
        "diagnosis": {"genomicInterpretations": items},  # no disease: biblip ranks, it does not diagnose
    }


def json_text(result: RankResult, top: int | None = None) -> str:
    import json

    return json.dumps(json_document(result, top), indent=2, ensure_ascii=False, allow_nan=False) + "\n"
