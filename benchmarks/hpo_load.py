"""HPO load benchmark: wall time of `HpoOntology.from_bundle` in fresh processes (issue 14, "Fast HPO").

    python benchmarks/hpo_load.py [--bundle DIR] [--repeat 3]

Each repeat is a separate Python process (nothing kept in memory between them), timing only
`HpoOntology.from_bundle(Bundle.open(...))` (imports and opening the bundle excluded, one first-use
similarity call included so lazily built caches count). The first process may also build the on-disk
cache in `$BIBLIP_HOME/hpo/`; it is reported separately ("first") from the following ones.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

CHILD = r"""
import json, sys, time
from biblip_cli.bundle import Bundle
from biblip_cli.features.phenotype import HpoOntology
bundle = Bundle.open(sys.argv[1] or None)
t0 = time.perf_counter()
hpo = HpoOntology.from_bundle(bundle)
t1 = time.perf_counter()
terms = hpo.resolve_terms(["HP:0001332", "HP:0001260"])
sim = hpo.phenotype_similarity(terms.ids, "PANK2")
t2 = time.perf_counter()
print(json.dumps({"load_s": t1 - t0, "first_use_s": t2 - t1, "pank2": sim}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundle", default="", help="bundle folder (default: the demo bundle)")
    parser.add_argument("--repeat", type=int, default=3, help="fresh processes to time")
    args = parser.parse_args()
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p)
    runs = []
    for _ in range(args.repeat):
        out = subprocess.run(
            [sys.executable, "-c", CHILD, args.bundle], env=env, check=True, capture_output=True, text=True
        ).stdout
        runs.append(json.loads(out.strip().splitlines()[-1]))
    print(f"# {platform.node()} {platform.processor() or platform.machine()} cpus={os.cpu_count()}")
    for i, run in enumerate(runs):
        label = "first" if i == 0 else f"run {i + 1}"
        print(
            f"{label:>6}: load {run['load_s']:.3f} s, first use {run['first_use_s']:.3f} s, "
            f"PANK2 similarity {run['pank2']:.12f}"
        )
    rest = [r["load_s"] for r in runs[1:]] or [runs[0]["load_s"]]
    print(f"median load (after the first): {sorted(rest)[len(rest) // 2]:.3f} s")


if __name__ == "__main__":
    main()
