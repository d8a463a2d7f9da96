"""Check a bundle (hashes, indexes, contigs, cross-references); its contents are read by summary.py.

`validate_bundle` never raises for a broken bundle: each problem becomes a `Check` with status
`FAIL` (unusable), `warn` (usable, but something is missing or inconsistent) or `ok`, so
`biblip bundle validate` can list every problem at once.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from biblip_cli.bundle.manifest import (
    MANIFEST_NAME,
    OPTIONAL_ROLES,
    REQUIRED_ROLES,
    Manifest,
    read_manifest,
    safe_path,
)
from biblip_cli.bundle.summary import GtfSummary, count_rows, hpo_release, summarize_gtf
from biblip_cli.errors import BiblipError
from biblip_cli.io.textfiles import open_text, sha256_file

OK, WARN, FAIL = "ok", "warn", "FAIL"


@dataclass
class Check:
    """One line of the validation report."""

    name: str
    status: str
    detail: str


def _names(items: Iterable[str], limit: int = 5) -> str:
    items = sorted(items)
    shown = ", ".join(items[:limit])
    return shown + (f", ... (+{len(items) - limit})" if len(items) > limit else "")


def validate_bundle(bundle_dir: Path) -> list[Check]:
    """Run every check; see the module docstring."""
    bundle_dir = Path(bundle_dir)
    checks: list[Check] = []
    try:
        manifest = read_manifest(bundle_dir)
    except BiblipError as err:
        return [Check("manifest", FAIL, err.one_line())]
    checks.append(
        Check(
            "manifest",
            OK,
            f"{MANIFEST_NAME}: {manifest.name!r}, {manifest.build}, schema {manifest.schema_version}",
        )
    )

    missing_roles = [r for r in REQUIRED_ROLES if r not in manifest.files]
    unknown = [r for r in manifest.files if r not in REQUIRED_ROLES + OPTIONAL_ROLES]
    if missing_roles:
        checks.append(
            Check("roles", FAIL, f"required roles missing from the manifest: {', '.join(missing_roles)}")
        )
    else:
        checks.append(
            Check(
                "roles",
                WARN if unknown else OK,
                f"{len(manifest.files)} files"
                + (f"; unknown roles: {', '.join(unknown)}" if unknown else ""),
            )
        )

    present: dict[str, Path] = {}
    bad_hash, absent = [], []
    for role, entry in manifest.files.items():
        try:
            path = safe_path(bundle_dir, entry.path)
        except BiblipError as err:
            checks.append(Check(f"file {role}", FAIL, err.message))
            continue
        if not path.is_file():
            absent.append(f"{role} ({entry.path})")
            continue
        if entry.sha256 and sha256_file(path) != entry.sha256:
            bad_hash.append(f"{role} ({entry.path})")
        present[role] = path
    checks.append(
        Check(
            "files present",
            FAIL if absent else OK,
            f"missing: {', '.join(absent)}" if absent else f"{len(present)} files",
        )
    )
    checks.append(
        Check(
            "sha256",
            FAIL if bad_hash else OK,
            f"altered or corrupt: {', '.join(bad_hash)}" if bad_hash else "all hashes match the manifest",
        )
    )

    fasta_contigs = _check_fasta(manifest, present, checks)
    gtf = _check_gtf(manifest, present, fasta_contigs, checks)
    _check_cross_refs(present, gtf, checks)
    _check_hpo(present, checks)
    if "text_embeddings" in present:
        checks.append(_check_text_embeddings(manifest, present["text_embeddings"]))
    return checks


def _check_text_embeddings(manifest: Manifest, path: Path) -> Check:
    """The gene-text embeddings (`features/gene_texts.py`): readable, shapes and dtypes, unit vectors,
    unique text hashes, made from this bundle's knowledge file."""
    name = "text embeddings"
    try:
        import numpy as np
        from safetensors import safe_open
    except ImportError:  # pragma: no cover - the no-model install
        return Check(name, WARN, "safetensors is not installed: not checked")
    try:
        with safe_open(str(path), framework="numpy") as fh:
            meta = fh.metadata() or {}
            keys, emb = fh.get_tensor("sha1"), fh.get_tensor("emb")
    except Exception as err:  # noqa: BLE001 - any unreadable file is one FAIL line
        return Check(name, FAIL, f"{path.name} is not a readable embeddings file ({err})")
    problems = []
    if keys.ndim != 2 or keys.shape[1] != 20 or keys.dtype != np.uint8:
        problems.append(f"sha1 is {keys.dtype}{list(keys.shape)}, expected uint8[N, 20]")
    if emb.ndim != 2 or emb.dtype != np.float16:
        problems.append(f"emb is {emb.dtype}{list(emb.shape)}, expected float16[N, dim]")
    if not problems and keys.shape[0] != emb.shape[0]:
        problems.append(f"{keys.shape[0]} hashes for {emb.shape[0]} vectors")
    if not problems:
        norms = np.linalg.norm(emb.astype(np.float32), axis=1)
        if not np.isfinite(norms).all() or (np.abs(norms - 1.0) > 0.01).any():
            problems.append("vectors are not finite unit vectors")
        if len({k.tobytes() for k in keys}) != keys.shape[0]:
            problems.append("duplicate text hashes")
    if not meta.get("fingerprint"):
        problems.append("no encoder fingerprint in the metadata")
    if problems:
        return Check(name, FAIL, "; ".join(problems))
    detail = f"{emb.shape[0]} texts x {emb.shape[1]}, encoder {meta['fingerprint']}"
    knowledge = manifest.files.get("knowledge")
    if knowledge is not None and meta.get("knowledge_sha256") not in (None, knowledge.sha256):
        return Check(name, WARN, detail + "; made from another knowledge file: rerun `biblip bundle embed`")
    return Check(name, OK, detail)


def _check_fasta(manifest: Manifest, present: dict[str, Path], checks: list[Check]) -> dict[str, int]:
    from biblip_cli.bundle.genome import Genome

    if "fasta" not in present:
        checks.append(Check("FASTA index", FAIL, "no FASTA file"))
        return {}
    try:
        genome = Genome(present["fasta"], manifest.contig_aliases)
    except BiblipError as err:
        checks.append(Check("FASTA index", FAIL, err.one_line()))
        return {}
    contigs = genome.contigs
    mismatch = {c: n for c, n in manifest.contigs.items() if contigs.get(c) != n}
    if mismatch:
        checks.append(
            Check("FASTA index", FAIL, f"manifest contig lengths differ from the .fai: {_names(mismatch)}")
        )
    else:
        checks.append(Check("FASTA index", OK, ", ".join(f"{c} {n:,} bp" for c, n in contigs.items())))
    try:
        probe = {c: genome.fetch(c, 0, min(n, 1000)) for c, n in contigs.items()}
        bad = [c for c, s in probe.items() if set(s) - set("ACGTNRYKMSWBDHV")]
        checks.append(
            Check(
                "FASTA read",
                FAIL if bad else OK,
                f"unexpected characters on {_names(bad)}" if bad else "sequence readable",
            )
        )
    except Exception as err:  # noqa: BLE001 (report any decoding problem as a failed check)
        checks.append(Check("FASTA read", FAIL, f"cannot read sequence: {err}"))
    aliases_bad = {
        a: t for a, t in manifest.contig_aliases.items() if t not in contigs and t not in manifest.contigs
    }
    checks.append(
        Check(
            "contig aliases",
            OK,
            _names([f"{a}->{t}" for a, t in manifest.contig_aliases.items()], 6)
            + (f" ({len(aliases_bad)} point to gene-model-only contigs)" if aliases_bad else ""),
        )
    )
    return contigs


def _check_gtf(
    manifest: Manifest, present: dict[str, Path], fasta: dict[str, int], checks: list[Check]
) -> GtfSummary | None:
    if "gtf" not in present:
        checks.append(Check("GTF", FAIL, "no GTF file"))
        return None
    try:
        gtf = summarize_gtf(present["gtf"])
    except (OSError, EOFError, UnicodeDecodeError) as err:
        checks.append(Check("GTF", FAIL, f"cannot read the GTF: {err}"))
        return None
    if not gtf.genes:
        checks.append(Check("GTF", FAIL, "no genes"))
        return gtf
    coding = sum(g.coding for g in gtf.genes.values())
    detail = f"{len(gtf.genes)} genes ({coding} coding) on {len(gtf.contigs)} contigs"
    if gtf.bad_lines:
        detail += f"; malformed: {', '.join(gtf.bad_lines)}"
    checks.append(Check("GTF", WARN if gtf.bad_lines else OK, detail))
    if fasta:
        no_seq = [g.symbol for g in gtf.genes.values() if g.contig not in fasta]
        beyond = [g.symbol for g in gtf.genes.values() if g.contig in fasta and g.end > fasta[g.contig]]
        if no_seq or beyond:
            parts = []
            if no_seq:
                contigs = {gtf.genes[s].contig for s in no_seq}
                parts.append(
                    f"{len(no_seq)} genes without sequence on {len(contigs)} contigs ({_names(contigs, 3)})"
                )
            if beyond:
                parts.append(
                    f"{len(beyond)} genes extend past the sequence end ({_names(beyond, 3)}): N there"
                )
            checks.append(Check("GTF vs FASTA contigs", WARN, "; ".join(parts)))
        else:
            checks.append(Check("GTF vs FASTA contigs", OK, "every gene lies within the FASTA sequence"))
    if "gtf_index" not in present:
        checks.append(
            Check("GTF index", WARN, "no tabix index (fine; needed only for region queries with tabix)")
        )
    return gtf


def _check_cross_refs(present: dict[str, Path], gtf: GtfSummary | None, checks: list[Check]) -> None:
    from biblip_cli.bundle.knowledge import load_knowledge, load_proteins

    genes = set(gtf.genes) if gtf else set()
    if "proteins" in present:
        try:
            proteins = load_proteins(present["proteins"])
            bad_aa = [g for g, s in proteins.items() if not s or set(s) - set("ACDEFGHIKLMNPQRSTVWYUOXBZ")]
            orphans = set(proteins) - genes if gtf else set()
            coding = {g.symbol for g in gtf.genes.values() if g.coding} if gtf else set()
            no_protein = coding - set(proteins)
            status = FAIL if bad_aa else WARN if orphans else OK
            detail = f"{len(proteins)} sequences"
            if bad_aa:
                detail += f"; invalid sequences: {_names(bad_aa)}"
            if orphans:
                detail += f"; {len(orphans)} genes not in the GTF ({_names(orphans)})"
            if no_protein:
                detail += f"; {len(no_protein)} coding genes without a protein (protein modality masked)"
            checks.append(Check("proteins vs GTF", status, detail))
        except BiblipError as err:
            checks.append(Check("proteins vs GTF", FAIL, err.one_line()))
    if "knowledge" in present:
        try:
            knowledge = load_knowledge(present["knowledge"])
            orphans = set(knowledge) - genes if gtf else set()
            missing = genes - set(knowledge)
            detail = f"{len(knowledge)} rows"
            if orphans:
                detail += f"; {len(orphans)} genes not in the GTF ({_names(orphans)})"
            if missing:
                detail += f"; {len(missing)} GTF genes without knowledge ({_names(missing)})"
            checks.append(Check("knowledge vs GTF", WARN if orphans else OK, detail))
        except BiblipError as err:
            checks.append(Check("knowledge vs GTF", FAIL, err.one_line()))
    if "paralogs" in present:
        checks.append(_check_paralogs(present))
    if "enhancers" in present:
        try:
            with open_text(present["enhancers"]) as fh:
                header = fh.readline().rstrip("\r\n").split("\t")
                col = header.index("measuredGeneSymbol") if "measuredGeneSymbol" in header else -1
                rows = [line.rstrip("\r\n").split("\t") for line in fh if line.strip()]
            targets = {r[col] for r in rows if col >= 0 and len(r) > col}
            unknown = targets - genes
            checks.append(
                Check(
                    "enhancers",
                    FAIL
                    if header[:3] != ["chrom", "chromStart", "chromEnd"]
                    else WARN
                    if unknown and gtf
                    else OK,
                    f"{len(rows)} element-gene pairs, {len(targets)} target genes"
                    + (
                        f"; {len(unknown)} targets not in the GTF ({_names(unknown)})"
                        if unknown and gtf
                        else ""
                    ),
                )
            )
        except (OSError, EOFError, UnicodeDecodeError, ValueError) as err:
            checks.append(Check("enhancers", FAIL, f"cannot read: {err}"))


def _check_paralogs(present: dict[str, Path]) -> Check:
    """Every row's gene has a protein whose length equals its `aligned` string (else the columns misalign)."""
    from biblip_cli.bundle.knowledge import load_proteins
    from biblip_cli.bundle.paralogs import read_paralogs

    try:
        table = read_paralogs(present["paralogs"])
        proteins = load_proteins(present["proteins"]) if "proteins" in present else {}
    except (BiblipError, OSError, EOFError, UnicodeDecodeError, ValueError) as err:
        return Check("paralogs", FAIL, f"cannot read: {err}")
    bad = sorted(
        g
        for g, rows in table.items()
        if g not in proteins or any(len(p.aligned) != len(proteins[g]) for p in rows)
    )
    pairs = sum(len(rows) for rows in table.values())
    detail = f"{pairs} paralog pairs for {len(table)} genes"
    if bad:
        detail += f"; {len(bad)} genes whose alignment does not fit their protein ({_names(bad)})"
    return Check("paralogs", FAIL if bad else OK, detail)


def _check_hpo(present: dict[str, Path], checks: list[Check]) -> None:
    if "hpo_obo" not in present:
        return
    try:
        version, terms = hpo_release(present["hpo_obo"])
        status = OK if terms > 0 else FAIL
        detail = f"release {version or '?'}, {terms:,} terms"
        for role, col in (("hpo_genes", "gene_symbol"), ("hpo_annotations", "hpo_id")):
            if role in present:
                with open_text(present[role]) as fh:
                    head = next((line for line in fh if not line.startswith("#") or col in line), "")
                if col not in head:
                    status = FAIL
                    detail += f"; {role} has no '{col}' column"
        if "hpo_genes" in present:
            detail += f", {count_rows(present['hpo_genes']):,} gene-phenotype rows"
        checks.append(Check("HPO", status, detail))
    except (OSError, EOFError, UnicodeDecodeError) as err:
        checks.append(Check("HPO", FAIL, f"cannot read HPO files: {err}"))
