#!/usr/bin/env bash
# Installs the extension into the project folder, writes the demo data and starts JupyterLab on it
# with the local executor. Everything stays inside this folder (.venv, node_modules, demo/).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
.venv/bin/python -m jupyterlab_nexus.demo demo
# An experiment folder with one raw TIFF scan, for the pipeline sidebar (NeXus Pipelines).
[ -f demo/experiment/scan_01/scan.json ] || .venv/bin/python -m jupyterlab_nexus.demo demo/experiment/scan_01 --tiff-scan
exec .venv/bin/jupyter lab --ServerApp.root_dir=demo "$@"
