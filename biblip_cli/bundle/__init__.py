"""The reference bundle: one directory with a manifest, the genome, genes, knowledge and HPO files.

`Bundle.open(dir)` reads only the manifest; each part (genome, transcripts, proteins,
knowledge) is loaded on first use, so a command pays only for what it touches.
The format is documented in docs/bundle.md.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import shutil
import tempfile
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from biblip_cli.bundle.genome import Genome
from biblip_cli.bundle.knowledge import GeneKnowledge, load_knowledge, load_proteins
from biblip_cli.bundle.manifest import REQUIRED_ROLES, Manifest, read_manifest, safe_path
from biblip_cli.bundle.paralogs import Paralog, read_paralogs
from biblip_cli.errors import BiblipError
from biblip_cli.io.textfiles import sha256_file
from biblip_cli.paths import biblip_home, resources_dir

if TYPE_CHECKING:
    from biblip_cli.bundle.genes import TranscriptIndex

__all__ = ["Bundle", "default_bundle_dir", "hpo_cache_root"]

#: file names pyhpo expects in its data folder, by bundle role
PYHPO_FILES = {
    "hpo_obo": "hp.obo",
    "hpo_genes": "genes_to_phenotype.txt",
    "hpo_annotations": "phenotype.hpoa",
}


def default_bundle_dir() -> Path:
    """`$BIBLIP_BUNDLE` if set, else the demo bundle shipped in `resources/demo_bundle`."""
    env = os.environ.get("BIBLIP_BUNDLE")
    if env:
        return Path(env).expanduser()
    return resources_dir() / "demo_bundle"


def hpo_cache_root() -> Path:
    """Where decompressed HPO folders for pyhpo live (`$BIBLIP_HOME/hpo`, default ~/.cache/biblip/hpo)."""
    return biblip_home() / "hpo"


class Bundle:
    """An opened bundle. Construct with `Bundle.open(dir)`."""

    def __init__(self, bundle_dir: Path, manifest: Manifest) -> None:
        self.dir = Path(bundle_dir)
        self.manifest = manifest

    @classmethod
    def open(cls, bundle_dir: Path | str | None = None, verify: bool = False) -> Bundle:
        """Open a bundle (default: `default_bundle_dir()`); `verify=True` also checks every sha256."""
        bundle_dir = Path(bundle_dir) if bundle_dir is not None else default_bundle_dir()
        manifest = read_manifest(bundle_dir)
        bundle = cls(bundle_dir, manifest)
        for role in REQUIRED_ROLES:
            if role not in manifest.files:
                raise BiblipError(
                    f"manifest lists no '{role}' file",
                    where=str(bundle_dir / "manifest.json"),
                    hint="rebuild the bundle with `biblip bundle build`",
                )
        for role, entry in manifest.files.items():
            path = safe_path(bundle_dir, entry.path)
            if not path.is_file():
                raise BiblipError(
                    f"bundle file for '{role}' is missing",
                    where=str(path),
                    hint="restore the file or rebuild the bundle; `biblip bundle validate` lists all problems",
                )
        if verify:
            bundle.verify()
        return bundle

    def verify(self) -> None:
        """Raise BiblipError on the first file whose sha256 differs from the manifest."""
        for role, entry in self.manifest.files.items():
            path = safe_path(self.dir, entry.path)
            if entry.sha256 and sha256_file(path) != entry.sha256:
                raise BiblipError(
                    f"sha256 of the '{role}' file does not match the manifest (file altered or corrupt)",
                    where=str(path),
                    hint="restore the file or rebuild the bundle; run `biblip bundle validate`",
                )

    def path(self, role: str) -> Path | None:
        """Absolute path of a role's file, or None when the bundle has no such file."""
        entry = self.manifest.files.get(role)
        return safe_path(self.dir, entry.path) if entry else None

    def require(self, role: str) -> Path:
        """Like `path` but raises a BiblipError when the role is absent."""
        path = self.path(role)
        if path is None:
            raise BiblipError(
                f"bundle has no '{role}' file",
                where=str(self.dir),
                hint="rebuild it with `biblip bundle build`",
            )
        return path

    @property
    def name(self) -> str:
        return self.manifest.name

    @property
    def build(self) -> str:
        return self.manifest.build

    @cached_property
    def genome(self) -> Genome:
        extra = list(self.manifest.contigs) + list(set(self.manifest.contig_aliases.values()))
        return Genome(self.require("fasta"), self.manifest.contig_aliases, extra_contigs=extra)

    @cached_property
    def transcripts(self) -> TranscriptIndex:
        from biblip_cli.bundle.genes import TranscriptIndex

        return TranscriptIndex.load(self.require("gtf"))

    @cached_property
    def proteins(self) -> dict[str, str]:
        return load_proteins(self.require("proteins"))

    @cached_property
    def knowledge(self) -> dict[str, GeneKnowledge]:
        return load_knowledge(self.require("knowledge"))

    @cached_property
    def paralogs(self) -> dict[str, list[Paralog]]:
        """Gene -> paralogs with aligned residues (`bundle/paralogs.py`); {} for bundles without the table."""
        path = self.path("paralogs")
        return read_paralogs(path) if path is not None and path.is_file() else {}

    @cached_property
    def gene_disease_counts(self) -> dict[str, int]:
        """Gene -> number of diseases HPO links to it (`genes_to_phenotype`): the gene-level prior."""
        diseases: dict[str, set[str]] = {}
        path = self.path("hpo_genes")
        if path is None or not path.is_file():
            return {}
        with open(path, "rb") as fh:
            gz = fh.read(2) == b"\x1f\x8b"
        with (gzip.open if gz else open)(path, "rt", encoding="utf-8") as fh:
            header = fh.readline().rstrip("\n").split("\t")
            try:
                gene_col, disease_col = header.index("gene_symbol"), header.index("disease_id")
            except ValueError:
                return {}
            for line in fh:
                parts = line.rstrip("\n").split("\t")
                if len(parts) > max(gene_col, disease_col):
                    diseases.setdefault(parts[gene_col], set()).add(parts[disease_col])
        return {gene: len(ids) for gene, ids in diseases.items()}

    def hpo_data_dir(self) -> Path:
        """A folder pyhpo can load (`Ontology(data_folder=...)`): uncompressed copies of the HPO files.

        The bundle stores the HPO files gzipped; pyhpo reads fixed, uncompressed names from one
        folder, so they are decompressed once into `$BIBLIP_HOME/hpo/<hash>/` (keyed by the files'
        sha256, so a changed bundle gets a fresh folder) and reused afterwards.
        """
        roles = list(PYHPO_FILES)
        key = hashlib.sha256()
        for role in roles:
            entry = self.manifest.files.get(role)
            key.update((entry.sha256 if entry and entry.sha256 else str(self.require(role))).encode())
        target = hpo_cache_root() / key.hexdigest()[:16]
        if all((target / name).is_file() for name in PYHPO_FILES.values()):
            return target
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=target.parent))
        try:
            for role, name in PYHPO_FILES.items():
                src = self.require(role)
                with open(src, "rb") as fh:
                    gz = fh.read(2) == b"\x1f\x8b"
                opener = gzip.open if gz else open
                with opener(src, "rb") as fin, open(tmp / name, "wb") as fout:
                    shutil.copyfileobj(fin, fout)
            try:
                tmp.rename(target)
            except OSError:  # another process won the race
                shutil.rmtree(tmp, ignore_errors=True)
        except (OSError, EOFError) as err:
            shutil.rmtree(tmp, ignore_errors=True)
            raise BiblipError(
                f"cannot unpack HPO files ({err})", where=str(self.dir), hint="run `biblip bundle validate`"
            ) from err
        return target

    def __repr__(self) -> str:
        return f"Bundle({str(self.dir)!r}, name={self.name!r}, build={self.build!r})"
