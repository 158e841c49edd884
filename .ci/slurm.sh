#!/usr/bin/env bash
# A one-node SLURM cluster on this machine, for testing the workflow's SLURM path
# (tests/workflow/test_slurm.py) against a real controller:
#
#   .ci/slurm.sh start    install slurm-wlm and munge when missing (root + apt-get), write a
#                         slurm.conf for this host, start munged (unless one already runs),
#                         slurmctld and slurmd, wait until `sinfo` shows the node idle
#   .ci/slurm.sh stop     stop exactly the daemons `start` started (their pids are recorded)
#   .ci/slurm.sh env      the line to source for the client commands: export SLURM_CONF=...
#
# Everything lives in $IFND_SLURM_DIR (default /tmp/ifnd-slurm): slurm.conf, state, spool,
# logs, pid files. Clients find the cluster through SLURM_CONF, and through a symlink
# /etc/slurm/slurm.conf -> $IFND_SLURM_DIR/slurm.conf for the job steps that Snakemake's
# jobstep executor launches with srun inside a job (it drops SLURM_* variables, SLURM_CONF
# included, from their environment); start refuses to replace an /etc/slurm/slurm.conf it did
# not make, and stop removes only its own link.
# The node is this host with its CPUs (2 here) and part of its free memory; one partition,
# `test`. No accounting (accounting_storage/none, no slurmdbd): `sacct` does not work, so
# the Snakemake plugin is told to use squeue (--slurm-status-command squeue), which sees
# finished jobs for MinJobAge seconds. No cgroups (proctrack/linuxproc, task/none): they are
# unavailable in containers such as this sandbox.
#
# GPUs: none by default. IFND_SLURM_GPUS=N declares N GPUs (gres/gpu) on the node, backed by
# the block devices /dev/loop0..N-1 (placeholders: they carry no CUDA, so ifnd runs on CPU),
# so that jobs asking for GPUs (`--gpus`) go through SLURM's GPU scheduling as on a GPU node;
# without those devices the node has no GPUs, and `sinfo -o %G` says so.
#
# Exit status of start: 0 when the node is idle; 1 with one line on stderr saying why
# otherwise (not root, no apt-get and no slurmctld, a daemon that did not come up).
set -euo pipefail

DIR="${IFND_SLURM_DIR:-/tmp/ifnd-slurm}"
CONF="$DIR/slurm.conf"
CTLD_PORT="${IFND_SLURM_CTLD_PORT:-6817}"
SLURMD_PORT="${IFND_SLURM_SLURMD_PORT:-6818}"
MIN_JOB_AGE="${IFND_SLURM_MIN_JOB_AGE:-3600}"
SYSTEM_CONF=/etc/slurm/slurm.conf
GPUS="${IFND_SLURM_GPUS:-0}"

die() { echo "slurm.sh: $*" >&2; exit 1; }

install_packages() {
  command -v slurmctld >/dev/null 2>&1 && command -v slurmd >/dev/null 2>&1 \
    && command -v munged >/dev/null 2>&1 && command -v sbatch >/dev/null 2>&1 && return 0
  [ "$(id -u)" = 0 ] || die "slurmctld/slurmd/munged missing and not root: cannot install slurm-wlm munge"
  command -v apt-get >/dev/null 2>&1 || die "slurmctld/slurmd/munged missing and no apt-get to install slurm-wlm munge"
  echo "installing slurm-wlm munge"
  apt-get update -qq >/dev/null \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slurm-wlm munge >/dev/null \
    || die "apt-get install slurm-wlm munge failed"
}

alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

start_munge() {
  if munge -n </dev/null 2>/dev/null | unmunge >/dev/null 2>&1; then
    echo "munged already running: using it"
    return 0
  fi
  [ -s /etc/munge/munge.key ] || { mungekey --create >/dev/null 2>&1 || /usr/sbin/mungekey -c; }
  mkdir -p /run/munge /var/log/munge /var/lib/munge
  chown munge:munge /run/munge /var/log/munge /var/lib/munge /etc/munge/munge.key 2>/dev/null || true
  chmod 0755 /run/munge
  rm -f /run/munge/munged.pid
  runuser -u munge -- /usr/sbin/munged || die "munged did not start"
  # munged daemonises and writes /run/munge/munged.pid; ours is a copy, so stop knows it.
  for _ in $(seq 50); do [ -s /run/munge/munged.pid ] && break; sleep 0.1; done
  cp /run/munge/munged.pid "$DIR/munged.pid" || die "munged wrote no pid file"
  munge -n </dev/null | unmunge >/dev/null 2>&1 || die "munged started but munge/unmunge fails"
}

write_conf() {
  local host cpus avail mem
  host="$(hostname -s)"
  cpus="$(nproc)"
  # Half of the memory available now, at most 8 GB: below what `free -m` shows, so slurmd
  # never finds less than configured.
  avail="$(free -m | awk '/^Mem:/ {print $7}')"
  mem=$((avail / 2)); [ "$mem" -gt 8000 ] && mem=8000
  [ "$mem" -ge 1000 ] || die "too little free memory for a test node (${avail} MB available)"
  mkdir -p "$DIR/state" "$DIR/spool"
  local gres="" i
  rm -f "$DIR/gres.conf"
  if [ "$GPUS" -gt 0 ]; then
    for i in $(seq 0 $((GPUS - 1))); do [ -b "/dev/loop$i" ] || { GPUS=0; break; }; done
    if [ "$GPUS" -gt 0 ]; then
      gres=" Gres=gpu:$GPUS"
      echo "Name=gpu File=/dev/loop[0-$((GPUS - 1))]" >"$DIR/gres.conf"
    else
      echo "no /dev/loop devices to stand for GPUs: the node has none" >&2
    fi
  fi
  cat >"$CONF" <<EOF
# Written by .ci/slurm.sh: a one-node test cluster on $host.
ClusterName=ifndtest
GresTypes=gpu
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$CTLD_PORT
SlurmdPort=$SLURMD_PORT
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool
SlurmctldPidFile=$DIR/slurmctld.pid
SlurmdPidFile=$DIR/slurmd.pid
SlurmctldLogFile=$DIR/slurmctld.log
SlurmdLogFile=$DIR/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SwitchType=switch/none
MpiDefault=none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU_Memory
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
MinJobAge=$MIN_JOB_AGE
ReturnToService=2
SchedulerType=sched/backfill
SchedulerParameters=sched_interval=2
SlurmctldTimeout=30
SlurmdTimeout=60
InactiveLimit=0
KillWait=5
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem$gres State=UNKNOWN
PartitionName=test Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
}

cmd_start() {
  install_packages
  mkdir -p "$DIR"
  if alive "$DIR/slurmctld.pid" || alive "$DIR/slurmd.pid"; then
    die "a test cluster already runs from $DIR (.ci/slurm.sh stop first)"
  fi
  rm -f "$DIR"/*.pid
  local port
  for port in "$CTLD_PORT" "$SLURMD_PORT"; do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      die "port $port is in use (another slurmctld/slurmd?); set IFND_SLURM_CTLD_PORT/IFND_SLURM_SLURMD_PORT"
    fi
  done
  write_conf
  export SLURM_CONF="$CONF"
  if [ -e "$SYSTEM_CONF" ] || [ -L "$SYSTEM_CONF" ]; then
    [ "$(readlink "$SYSTEM_CONF" 2>/dev/null)" = "$CONF" ] \
      || die "$SYSTEM_CONF exists (a SLURM installation or another test cluster): not replacing it"
  else
    mkdir -p "$(dirname "$SYSTEM_CONF")"
    ln -s "$CONF" "$SYSTEM_CONF" || die "cannot link $SYSTEM_CONF to $CONF"
  fi
  start_munge
  # -c: a clean start, no jobs or node states from an earlier run of this script.
  slurmctld -f "$CONF" -c >>"$DIR/start.log" 2>&1 || die "slurmctld did not start (see $DIR/slurmctld.log)"
  slurmd -f "$CONF" >>"$DIR/start.log" 2>&1 || die "slurmd did not start (see $DIR/slurmd.log)"
  local state=""
  for _ in $(seq 60); do
    state="$(sinfo -h -N -o '%t' 2>/dev/null | head -1 || true)"
    [ "$state" = idle ] && break
    sleep 1
  done
  if [ "$state" != idle ]; then
    echo "--- $DIR/slurmctld.log" >&2; tail -5 "$DIR/slurmctld.log" >&2 || true
    echo "--- $DIR/slurmd.log" >&2; tail -5 "$DIR/slurmd.log" >&2 || true
    die "the node is not idle after 60 s (sinfo state: '${state:-none}')"
  fi
  echo "SLURM test cluster up: $(sinfo -h -o '%P %D %c %m %G %t'); export SLURM_CONF=$CONF"
}

stop_pidfile() {
  local f="$1" pid
  [ -f "$f" ] || return 0
  pid="$(cat "$f")"
  if kill -0 "$pid" 2>/dev/null; then
    kill "$pid"
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$f"
}

cmd_stop() {
  # Jobs still running are cancelled first, so slurmd leaves no step behind.
  if [ -f "$CONF" ] && alive "$DIR/slurmctld.pid"; then
    SLURM_CONF="$CONF" scancel --full --user "$(id -un)" 2>/dev/null || true
    sleep 1
  fi
  stop_pidfile "$DIR/slurmd.pid"
  stop_pidfile "$DIR/slurmctld.pid"
  stop_pidfile "$DIR/munged.pid"
  if [ -L "$SYSTEM_CONF" ] && [ "$(readlink "$SYSTEM_CONF")" = "$CONF" ]; then
    rm -f "$SYSTEM_CONF"
  fi
  echo "SLURM test cluster stopped"
}

case "${1:-}" in
  start) cmd_start ;;
  stop) cmd_stop ;;
  env) echo "export SLURM_CONF=$CONF" ;;
  *) echo "usage: $0 start|stop|env" >&2; exit 2 ;;
esac
