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
# The Slurm suite needs a running cluster (as root: scripts/slurm-up.sh). Without one it is counted
# as not run, never as passed; CI (.ci/run) sets NEXUS_REQUIRE_SLURM=1 so that it must run.
notrun=0
if timeout 10 scontrol ping 2>/dev/null | grep -q UP; then
  run npm run test:slurm
elif [ "${NEXUS_REQUIRE_SLURM:-0}" = 1 ]; then
  echo "== Slurm not running (required here): start it with sudo scripts/slurm-up.sh"
  failed=$((failed + 1))
else
  echo "== NOT RUN npm run test:slurm — Slurm not running: start it with sudo scripts/slurm-up.sh"
  notrun=$((notrun + 1))
fi
# The remote-site suite needs a real sshd on loopback and a second account (as root:
# scripts/sshd-up.sh); the same rule: not run without them, required in CI (NEXUS_REQUIRE_SSHD=1).
sshd_port=$(sed -n 's/^NEXUS_SSHD_PORT=//p' /run/nexus-sshd/env 2>/dev/null)
if [ -n "$sshd_port" ] && timeout 5 bash -c "exec 3<>/dev/tcp/127.0.0.1/$sshd_port" 2>/dev/null; then
  run npm run test:remote
  run npm run test:ui:remote
elif [ "${NEXUS_REQUIRE_SSHD:-0}" = 1 ]; then
  echo "== sshd for the remote-site tests not running (required here): sudo scripts/sshd-up.sh"
  failed=$((failed + 1))
else
  echo "== NOT RUN npm run test:remote, test:ui:remote — no test sshd: start it with sudo scripts/sshd-up.sh"
  notrun=$((notrun + 2))
fi
# The multi-user suite needs the second account that scripts/sshd-up.sh creates (as root).
other_user=$(sed -n 's/^NEXUS_SSHD_USER=//p' /run/nexus-sshd/env 2>/dev/null)
if [ -n "$other_user" ] && id "$other_user" >/dev/null 2>&1 && [ "$(id -u)" -eq 0 ]; then
  run npm run test:multiuser
elif [ "${NEXUS_REQUIRE_SSHD:-0}" = 1 ]; then
  echo "== second account for the multi-user tests missing (required here): sudo scripts/sshd-up.sh"
  failed=$((failed + 1))
else
  echo "== NOT RUN npm run test:multiuser — needs root and the second account of scripts/sshd-up.sh"
  notrun=$((notrun + 1))
fi
echo "suites: $passed passed, $failed failed, $notrun not run"
[ "$failed" -eq 0 ]
