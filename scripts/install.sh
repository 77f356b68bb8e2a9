#!/usr/bin/env bash
# Installs everything into the project folder (no root needed): Python virtual environment in
# .venv, npm packages in node_modules, then builds the companion server and the labextension
# and installs the Python package (prebuilt extension + jupyter-server-proxy entry point).
set -euo pipefail
cd "$(dirname "$0")/.."

export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1
# The labextension build calls jupyter-builder, which lives in the virtual environment.
export PATH="$PWD/.venv/bin:$PATH"
[ -x .venv/bin/python ] || python3 -m venv .venv
# JupyterLab ships CommonJS helper scripts; without this, Node would read them as ES modules
# because this project's package.json says "type": "module".
echo '{"type": "commonjs"}' > .venv/package.json
.venv/bin/pip install --quiet --upgrade pip
.venv/bin/pip install --quiet -r requirements-dev.txt

# better-sqlite3 builds from source during npm ci (its prebuilt download needs GitHub): point
# node-gyp at the running Node's own headers instead of downloading them.
export npm_config_nodedir="$(node -p "require('path').resolve(process.execPath, '../..')")"
npm ci --no-audit --no-fund
# npm install scripts may not run: build the native transform addon explicitly (node-gyp, g++).
npm run build:native
npm run build:prod
.venv/bin/pip install --quiet --no-build-isolation -e .
