#!/usr/bin/env bash
# Installs everything the tests need, then runs every test suite; prints one summary line.
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh || exit 1

passed=0
failed=0
run() {
  echo "== $*"
  if "$@"; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
}
run npm run typecheck
run npm run lint
run npm run test:server
run .venv/bin/pytest -c test/python/pytest.ini test/python
run npm run test:ui
echo "suites: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
