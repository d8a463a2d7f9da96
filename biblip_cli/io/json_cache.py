"""Content-addressed JSON caches under `$BIBLIP_HOME`: read one back, or write one atomically.

A cache is only ever a shortcut: a missing, unreadable or foreign file reads as None (the caller
rebuilds it), and a write that fails (read-only home, full disk) only logs. No pickle anywhere.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


def home_cache_dir(name: str) -> Path:
    """`$BIBLIP_HOME/<name>` (default ~/.cache/biblip/<name>)."""
    from biblip_cli.paths import biblip_home

    return biblip_home() / name


def read_json_cache(path: Path) -> Any:
    """The parsed file, or None when it is missing or does not parse."""
    try:
        with open(path, encoding="utf-8") as fh:
            return json.load(fh)
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as err:
        log.debug("ignoring cache %s (%s); rebuilding it", path, err)
        return None


def write_json_cache(path: Path, doc: Any) -> None:
    """Atomic: a temp file beside it, then os.replace; any OSError only logs (debug)."""
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".json", dir=path.parent)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(doc, fh, separators=(",", ":"), ensure_ascii=False)
        os.chmod(tmp, 0o644)  # mkstemp makes it 0600; the cache is not secret and may be shared
        os.replace(tmp, path)
        tmp = None
    except OSError as err:
        log.debug("cannot write the cache %s (%s); using the in-memory result", path, err)
    finally:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:
                pass
