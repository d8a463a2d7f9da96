"""Where the shipped resources (demo bundle, demo VCF, default checkpoint) are found, and where
biblip keeps what it prepares or caches (`biblip_home`).

`resources/` sits at the top of the source tree. An editable install (and a run from the checkout) finds
it next to the package; a regular `pip install .` copies only the package, so the current directory's
`resources/` is used next (the quick start runs from the checkout), and `$BIBLIP_RESOURCES` overrides both.
"""

from __future__ import annotations

import os
from pathlib import Path


def resources_dir() -> Path:
    env = os.environ.get("BIBLIP_RESOURCES")
    if env:
        return Path(env).expanduser()
    beside_package = Path(__file__).resolve().parent.parent / "resources"
    for candidate in (beside_package, Path.cwd() / "resources"):
        if (candidate / "model").is_dir() or (candidate / "demo_bundle").is_dir():
            return candidate
    return beside_package


def default_model_dir() -> Path:
    """The shipped Bio-BLIP checkpoint."""
    return resources_dir() / "model"


def biblip_home() -> Path:
    """`$BIBLIP_HOME`, else `~/.cache/biblip`: prepared weights and every cache live below it."""
    env = os.environ.get("BIBLIP_HOME")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "biblip"
