#!/usr/bin/env bash
# Snakemake runs this inside the new conda env (--sdm conda): install biblip from the checkout.
set -euo pipefail
pip install "${BIBLIP_REPO:-$PWD}"
