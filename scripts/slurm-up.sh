#!/usr/bin/env bash
# Brings up a real single-node Slurm for the job-layer tests: munge, slurmctld, slurmd, a default
# `debug` partition and a short `demand` partition. Idempotent (re-running leaves a healthy cluster
# alone, restarts the daemons only when the configuration changed). Needs root and the Debian
# packages (.ci/run installs them): slurm-wlm slurmctld slurmd slurm-client munge.
# Works without systemd and without cgroups (see the scheduler reference, section 9).
set -euo pipefail

if [ "$(id -u)" -ne 0 ]; then
  echo "slurm-up.sh needs root: sudo scripts/slurm-up.sh" >&2
  exit 1
fi
for tool in munged slurmctld slurmd sbatch; do
  if ! command -v "$tool" >/dev/null 2>&1 && [ ! -x "/usr/sbin/$tool" ]; then
    echo "missing $tool: apt-get install --no-install-recommends slurm-wlm slurmctld slurmd slurm-client munge" >&2
    exit 1
  fi
done

MARKER='# written by jupyterlab-nexus scripts/slurm-up.sh'
CONF=/etc/slurm/slurm.conf
HOST=$(hostname -s)

alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

stop_daemon() {
  local pidfile=$1
  if alive "$pidfile"; then
    kill "$(cat "$pidfile")"
    for _ in $(seq 50); do alive "$pidfile" || break; sleep 0.1; done
  fi
  rm -f "$pidfile"
}

# Starts a daemon and waits for its pid file, so a check right after never starts a second one.
start_daemon() {
  local binary=$1 pidfile=$2
  "$binary"
  for _ in $(seq 50); do alive "$pidfile" && return 0; sleep 0.1; done
}

# --- munge -------------------------------------------------------------------------------------
if [ ! -s /etc/munge/munge.key ]; then
  mungekey --create --keyfile=/etc/munge/munge.key
  chown munge:munge /etc/munge/munge.key
  chmod 0400 /etc/munge/munge.key
fi
install -d -o munge -g munge -m 0755 /run/munge
install -d -o munge -g munge -m 0700 /var/log/munge /var/lib/munge
if ! munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
  su -s /bin/sh munge -c /usr/sbin/munged
  for _ in $(seq 50); do munge -n 2>/dev/null | unmunge >/dev/null 2>&1 && break; sleep 0.1; done
fi

# --- configuration -----------------------------------------------------------------------------
# The tests mostly sleep, so the node advertises 8 cores whatever the machine has
# (config_overrides): the suite then runs its jobs side by side on a 2-core CI runner.
# EnforcePartLimits=ALL makes Slurm itself refuse a job over a partition's MaxTime, so the tests
# also see Slurm's real rejection message, not only our own validation.
# MinJobAge keeps finished jobs visible to squeue for 10 minutes (sacct needs slurmdbd, not set up).
new_conf=$(mktemp)
cat >"$new_conf" <<EOF
$MARKER
ClusterName=sandbox
SlurmctldHost=$HOST
AuthType=auth/munge
CredType=cred/munge
SlurmUser=slurm
SlurmdUser=root
SlurmctldPort=6817
SlurmdPort=6818
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
SlurmdParameters=config_overrides
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc=/var/log/slurm/jobcomp.log
MinJobAge=600
EnforcePartLimits=ALL
SchedulerType=sched/backfill
SchedulerParameters=sched_interval=2
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
MpiDefault=none
KillWait=2
NodeName=$HOST CPUs=8 Boards=1 SocketsPerBoard=1 CoresPerSocket=8 ThreadsPerCore=1 RealMemory=4000 State=UNKNOWN
PartitionName=debug  Nodes=$HOST Default=YES MaxTime=02:00:00 DefaultTime=00:10:00 State=UP
PartitionName=demand Nodes=$HOST Default=NO  MaxTime=00:10:00 DefaultTime=00:05:00 PriorityTier=10 State=UP
EOF

install -d /etc/slurm
if [ -f "$CONF" ] && ! head -n1 "$CONF" | grep -qxF "$MARKER"; then
  echo "$CONF exists and was not written by this script: not touching a real cluster's configuration" >&2
  rm -f "$new_conf"
  exit 1
fi
changed=no
if ! cmp -s "$new_conf" "$CONF"; then
  install -m 0644 "$new_conf" "$CONF"
  changed=yes
fi
rm -f "$new_conf"

install -d -o slurm -g slurm /var/spool/slurmctld /var/log/slurm
install -d /var/spool/slurmd

if [ "$changed" = yes ]; then
  stop_daemon /run/slurmd.pid
  stop_daemon /run/slurmctld.pid
fi

# --- daemons -----------------------------------------------------------------------------------
# A daemon still shutting down keeps its pid file for a moment: keep checking until the service
# answers, (re)starting it whenever its process is gone.
deadline=$((SECONDS + 60))
until scontrol ping 2>/dev/null | grep -q UP; do
  alive /run/slurmctld.pid || start_daemon /usr/sbin/slurmctld /run/slurmctld.pid
  if [ "$SECONDS" -ge "$deadline" ]; then
    echo "slurmctld did not start; see /var/log/slurm/slurmctld.log" >&2
    exit 1
  fi
  sleep 0.2
done

# slurmctld may still list the node as idle for minutes after its slurmd died: check the process.
alive /run/slurmd.pid || start_daemon /usr/sbin/slurmd /run/slurmd.pid
until state=$(sinfo -h -n "$HOST" -o %T 2>/dev/null | head -n1) && case "$state" in idle* | mixed* | allocated*) true ;; *) false ;; esac; do
  alive /run/slurmd.pid || start_daemon /usr/sbin/slurmd /run/slurmd.pid
  # left drained or down by an earlier run (a killed slurmd, a reboot): this node is ours
  case "$state" in drain* | down*) scontrol update NodeName="$HOST" State=RESUME 2>/dev/null || true ;; esac
  if [ "$SECONDS" -ge "$deadline" ]; then
    echo "slurm did not become ready (node state: ${state:-unknown}); see /var/log/slurm/" >&2
    exit 1
  fi
  sleep 0.2
done
echo "slurm up on $HOST: $(sinfo --version)"
