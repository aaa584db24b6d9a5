#!/usr/bin/env bash
# A throw-away one-node Slurm cluster for test/slurm.test.ts, from Debian's
# slurm-wlm and munge, entirely inside one folder: its own munge key and
# socket, slurm.conf, state, spool, logs and free TCP ports, so it never
# touches /etc/slurm, /etc/munge or a cluster someone else runs on this host.
#
#   test/slurm/cluster.sh start DIR   # prints SLURM_CONF=DIR/slurm.conf once the node is idle
#   test/slurm/cluster.sh stop DIR    # cancels its jobs, stops its daemons by PID
#
# Needs root: slurmd starts job steps as the submitting user, and the
# daemons run as SlurmUser=root (no slurm account needed on the machine).
set -euo pipefail

cmd=${1:?usage: cluster.sh start|stop DIR}
DIR=${2:?usage: cluster.sh start|stop DIR}
DIR=$(cd "$DIR" && pwd)
export SLURM_CONF="$DIR/slurm.conf"
NODE=$(hostname -s)

fail() {
  echo "cluster.sh: $*" >&2
  # The daemons' own words are what explains a failed start.
  for log in "$DIR"/log/*.log; do
    [ -s "$log" ] && { echo "--- $log (last lines)" >&2; tail -n 15 "$log" >&2; }
  done
  exit 1
}

# A TCP port nothing listens on (bash's /dev/tcp connect fails), from a range
# away from Slurm's defaults 6817/6818 so a system cluster is never hit.
free_port() {
  local p
  for _ in $(seq 1 200); do
    p=$((20000 + RANDOM % 20000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then echo "$p"; return; fi
  done
  fail "no free TCP port found"
}

# SIGTERM to the given daemons at once (each takes a second or two to wind
# down), then SIGKILL to any still there after 10 s.
stop_pids() {
  local pids=() f pid
  for f in "$@"; do [ -s "$f" ] && pids+=("$(cat "$f")"); done
  [ ${#pids[@]} -gt 0 ] || return 0
  kill "${pids[@]}" 2>/dev/null || true
  for _ in $(seq 1 100); do
    local alive=0
    for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    [ $alive = 0 ] && return 0
    sleep 0.1
  done
  kill -9 "${pids[@]}" 2>/dev/null || true
}

start() {
  [ "$(id -u)" = 0 ] || fail "must run as root (the daemons run as SlurmUser=root); running as uid $(id -u)"
  export PATH="$PATH:/usr/sbin:/sbin"
  for b in munged mungekey munge unmunge slurmctld slurmd sbatch squeue sinfo; do
    command -v "$b" >/dev/null 2>&1 || fail "$b not found: install Debian's slurm-wlm and munge (scripts/test does: apt-get install slurm-wlm munge)"
  done
  mkdir -p "$DIR/munge" "$DIR/state" "$DIR/spool" "$DIR/log" "$DIR/run"
  # munged wants its folder writable by the owner alone, and searchable by all (the socket is in it).
  chmod 755 "$DIR/munge"

  # munge: its own key and socket (the system's munged, if any, is not used).
  mungekey --create --keyfile="$DIR/munge/munge.key" --force >/dev/null 2>&1 || fail "mungekey could not create a key"
  chmod 400 "$DIR/munge/munge.key"
  # --force: the test folder is private (mode 700, as mkdtemp makes it) and munged
  # refuses a socket other users could not reach; only root uses this one.
  munged --force --key-file="$DIR/munge/munge.key" --socket="$DIR/munge/munge.socket" \
    --pid-file="$DIR/run/munged.pid" --log-file="$DIR/log/munged.log" --seed-file="$DIR/munge/munged.seed" \
    2>>"$DIR/log/munged.log" || fail "munged did not start"
  munge --socket="$DIR/munge/munge.socket" -n | unmunge --socket="$DIR/munge/munge.socket" >/dev/null \
    || fail "munge credential round trip failed"

  local ctld_port slurmd_port
  ctld_port=$(free_port)
  slurmd_port=$(free_port)
  [ "$ctld_port" != "$slurmd_port" ] || slurmd_port=$((ctld_port + 1))
  # CPUs=8 on a smaller machine: four 2-CPU array tasks (examples/slurm/sweep.sbatch
  # asks --cpus-per-task=2) run at once, as on a real cluster; config_overrides
  # lets slurmd accept a node described bigger than the hardware.
  # proctrack/linuxproc and task/none: no cgroups (none are delegated in a container).
  # 127.0.0.1: a CI machine's hostname need not resolve.
  cat >"$SLURM_CONF" <<CONF
ClusterName=memorize-test
SlurmctldHost=$NODE(127.0.0.1)
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$DIR/munge/munge.socket
SlurmUser=root
SlurmdUser=root
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool
SlurmctldPidFile=$DIR/run/slurmctld.pid
SlurmdPidFile=$DIR/run/slurmd.pid
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd.log
PlugStackConfig=$DIR/plugstack.conf
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
MpiDefault=none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SlurmdParameters=config_overrides
ReturnToService=2
SchedulerType=sched/backfill
# scancel: SIGTERM, then SIGKILL after 10 s (default 30) should a worker hang.
KillWait=10
# Ended jobs stay visible to scontrol for 10 min: the test reads each task's final state.
MinJobAge=600
NodeName=$NODE NodeAddr=127.0.0.1 CPUs=8 State=UNKNOWN
PartitionName=test Nodes=$NODE Default=YES MaxTime=INFINITE State=UP OverSubscribe=NO
CONF
  : >"$DIR/plugstack.conf"

  slurmctld -f "$SLURM_CONF" || fail "slurmctld did not start"
  slurmd -f "$SLURM_CONF" -N "$NODE" || fail "slurmd did not start"
  for _ in $(seq 1 150); do
    state=$(sinfo -h -n "$NODE" -o %T 2>/dev/null || true)
    if [ "$state" = idle ]; then echo "SLURM_CONF=$SLURM_CONF"; return 0; fi
    sleep 0.2
  done
  fail "node $NODE not idle after 30 s (sinfo says: '${state:-nothing}')"
}

stop() {
  export PATH="$PATH:/usr/sbin:/sbin"
  if [ -f "$SLURM_CONF" ] && [ -s "$DIR/run/slurmctld.pid" ]; then
    # Jobs first, so no slurmstepd or worker outlives the cluster.
    scancel --full --quiet --user=root 2>/dev/null || true
    for _ in $(seq 1 100); do
      [ -z "$(squeue -h -o %i 2>/dev/null)" ] && break
      sleep 0.2
    done
  fi
  stop_pids "$DIR/run/slurmd.pid" "$DIR/run/slurmctld.pid" "$DIR/run/munged.pid"
}

case "$cmd" in
  start) start ;;
  stop) stop ;;
  *) echo "usage: cluster.sh start|stop DIR" >&2; exit 2 ;;
esac
