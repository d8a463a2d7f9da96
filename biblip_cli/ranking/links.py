"""Links by id for the report: HPO terms and genes, OMIM and Orphanet entries, dbSNP and ClinVar.

Only ids the data carries are linked (the VCF ID column, the bundle's gene knowledge and HPO files);
nothing is looked up, and an id that matches no pattern is shown as text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

RSID = re.compile(r"^rs\d+$", re.IGNORECASE)
CLINVAR_ID = re.compile(r"^(?:VCV0*)?(\d+)$", re.IGNORECASE)  # ClinVar's VCF puts the variation id in ID
DISEASE = re.compile(r"^(?P<name>[^(|]+?)\s*\((?:(?P<abbr>[^;()]+);\s*)?(?P<db>MIM|ORPHA):(?P<n>\d+)\)")


@dataclass(frozen=True)
class Link:
    text: str
    url: str = ""  # '' = shown as text


def hpo_term(term_id: str) -> str:
    return f"https://hpo.jax.org/browse/term/{term_id}"


def hpo_gene(entrez_id: str) -> str:
    return f"https://hpo.jax.org/browse/gene/NCBIGene:{entrez_id}"


def omim(number: str) -> str:
    return f"https://omim.org/entry/{number}"


def orphanet(number: str) -> str:
    return f"https://www.orpha.net/en/disease/detail/{number}"


def variant_ids(vcf_id: str) -> list[Link]:
    """The VCF ID column: an rsID links to dbSNP and to ClinVar's search for it, a number or VCV id
    to its ClinVar variation page; other ids are kept as text."""
    links: list[Link] = []
    for item in re.split(r"[;,]", vcf_id or ""):
        item = item.strip()
        if not item or item == ".":
            continue
        if RSID.match(item):
            links.append(Link(item, f"https://www.ncbi.nlm.nih.gov/snp/{item.lower()}"))
            links.append(Link("ClinVar", f"https://www.ncbi.nlm.nih.gov/clinvar/?term={item.lower()}"))
        elif m := CLINVAR_ID.match(item):
            links.append(
                Link(f"ClinVar {m.group(1)}", f"https://www.ncbi.nlm.nih.gov/clinvar/variation/{m.group(1)}/")
            )
        else:
            links.append(Link(item))
    return links


def disease_entries(diseases: list[str]) -> list[tuple[str, list[Link]]]:
    """The gene knowledge's `diseases` (`Name (ABBR; MIM:173650): description | Name (ORPHA:2908)`)
    as (name, links). The knowledge reader splits list columns on `;`, which cuts these items inside
    the parentheses, so the pieces are joined again and split on ` | `."""
    found = []
    for item in "; ".join(diseases).split(" | "):
        m = DISEASE.match(item.strip())
        if not m:
            name = item.split(":", 1)[0].strip()
            if name:
                found.append((name, []))
            continue
        name = m.group("name").strip() + (f" ({m.group('abbr').strip()})" if m.group("abbr") else "")
        n = m.group("n")
        link = Link(f"OMIM {n}", omim(n)) if m.group("db") == "MIM" else Link(f"ORPHA {n}", orphanet(n))
        found.append((name, [link]))
    return found
