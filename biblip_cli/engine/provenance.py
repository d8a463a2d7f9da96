"""What produced an output: the bundle, the checkpoint, the LLM and the HPO release (one record, three forms).

VCF headers get `##biblip_bundle=<...>`, `##biblip_model=<...>`, `##biblip_llm=<...>`, `##biblip_hpo=<...>`;
TSVs a `TSV.provenance.json` sidecar (a comment line would break the TSV readers, docs/output.md); JSON
reports a `provenance` object. Everything is read from manifests and small files (the checkpoint's
`model.safetensors` is hashed once, ~9 MB for the shipped one).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from biblip_cli.io.textfiles import sha256_file

NONE = "none"


@dataclass
class Provenance:
    bundle_name: str = ""
    bundle_build: str = ""
    bundle_manifest_sha256: str = ""
    model_sha256: str = NONE  # sha256 of model.safetensors; "none" with --no-model
    llm_name: str = NONE  # "none" with --no-model / --no-llm
    llm_sha256: str = NONE  # the identity checkpoints record (model.weights.llm_sha256)
    hpo_release: str = ""  # the bundle's hp.obo version (manifest)

    def header_lines(self) -> list[str]:
        """The `##biblip_*` VCF header lines (structured, values quoted)."""
        bundle = f'name="{_q(self.bundle_name)}",build="{_q(self.bundle_build)}"'
        return [
            f'##biblip_bundle=<{bundle},manifest_sha256="{self.bundle_manifest_sha256}">',
            f'##biblip_model=<sha256="{self.model_sha256}">',
            f'##biblip_llm=<name="{_q(self.llm_name)}",sha256="{self.llm_sha256}">',
            f'##biblip_hpo=<release="{_q(self.hpo_release)}">',
        ]

    def as_dict(self) -> dict[str, Any]:
        """The JSON form: `{bundle: {name, build, manifest_sha256}, model: {sha256}, llm: {name, sha256},
        hpo: {release}}`."""
        d = asdict(self)
        return {
            "bundle": {
                "name": d["bundle_name"],
                "build": d["bundle_build"],
                "manifest_sha256": d["bundle_manifest_sha256"],
            },
            "model": {"sha256": d["model_sha256"]},
            "llm": {"name": d["llm_name"], "sha256": d["llm_sha256"]},
            "hpo": {"release": d["hpo_release"]},
        }

    def sidecar_text(self) -> str:
        return json.dumps(self.as_dict(), indent=2) + "\n"


def _q(value: str) -> str:
    return value.replace('"', "'").replace("\n", " ")


def bundle_provenance(bundle: Any) -> Provenance:
    """The bundle's part (an injected test bundle without a manifest gives empty fields)."""
    from biblip_cli.bundle.manifest import MANIFEST_NAME

    found = Provenance()
    manifest = getattr(bundle, "manifest", None)
    if manifest is None:
        return found
    found.bundle_name = str(getattr(manifest, "name", "") or "")
    found.bundle_build = str(getattr(manifest, "build", "") or "")
    path = Path(bundle.dir) / MANIFEST_NAME
    found.bundle_manifest_sha256 = sha256_file(path) if path.is_file() else ""
    hpo = manifest.files.get("hpo_obo") if hasattr(manifest, "files") else None
    found.hpo_release = str(getattr(hpo, "version", "") or "") if hpo is not None else ""
    return found


def run_provenance(
    bundle: Any, engine: Any, model_dir: str | Path | None, llm_dir: str | Path | None
) -> Provenance:
    """The whole record for a run: the bundle's part, plus the checkpoint and LLM the engine loaded (none
    when `engine` is None, i.e. --no-model)."""
    found = bundle_provenance(bundle)
    if engine is None or model_dir is None:
        return found
    weights = Path(model_dir) / "model.safetensors"
    found.model_sha256 = sha256_file(weights) if weights.is_file() else ""
    if getattr(engine, "llm", None) is not None:
        found.llm_name, found.llm_sha256 = llm_identity(llm_dir)
    return found


def llm_identity(llm_dir: str | Path | None) -> tuple[str, str]:
    """(name, sha256) of an LLM folder (default: the prepared one): the name from its source record,
    else the folder name; the sha256 as checkpoints record it."""
    from biblip_cli.model.weights import SOURCE_FILE, default_llm_dir, llm_sha256

    folder = Path(llm_dir) if llm_dir else default_llm_dir(prepare=False)
    source = folder / SOURCE_FILE
    name = folder.name
    if source.is_file():
        name = json.loads(source.read_text()).get("name", name) or name
    return name, llm_sha256(folder)
