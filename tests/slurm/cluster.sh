#!/usr/bin/env bash
# cluster.sh - a one-node Slurm cluster on this machine, for qcal's Slurm tests (label slurm).
#
#   tests/slurm/cluster.sh start    install slurm-wlm, munge and libpmix2 with apt-get if they
#                                   are missing, write the config, start munged (unless one
#                                   already answers), slurmctld and slurmd, and wait until the
#                                   node takes jobs. Idempotent: when everything runs with the
#                                   same config it only checks; a changed config restarts our
#                                   slurm daemons.
#   tests/slurm/cluster.sh stop     cancel every job of this cluster, then stop exactly the
#                                   daemons this script started (pid files in $DIR/run).
#   tests/slurm/cluster.sh status   daemons and node state; exit 0 if the node takes jobs, 3 if not.
#   tests/slurm/cluster.sh env      print 'export SLURM_CONF=...' for sbatch/srun/squeue:
#                                   eval "$(tests/slurm/cluster.sh env)"
#
# Everything lives in one folder, QCAL_SLURM_DIR (default /var/spool/qcal-slurm): slurm.conf,
# state (ctld/, d/), logs (log/) and pid files (run/). Nothing is written to /etc/slurm, so a
# real Slurm installation on the machine is left alone; the client commands find this cluster
# through SLURM_CONF. The daemons listen on ports QCAL_SLURM_PORT (slurmctld, default 6827) and
# QCAL_SLURM_PORT + 1 (slurmd), not Slurm's default 6817/6818, so another local test cluster or
# a real slurmd on the machine does not collide with this one.
#
# The cluster: one node (this host, all CPUs, 90 % of the memory), partition 'debug',
# select/cons_tres with CR_CPU, proctrack/linuxproc and task/none (no cgroups, no systemd
# needed), munge authentication, MpiDefault=pmix (Debian's Open MPI only has PMIx: srun
# --mpi=pmi2 cannot start its ranks). Daemons run as root; munged as the munge user.
# Made for Debian 12 (Slurm 22.05, munge 0.5.15, PMIx 4.2) as root, in a VM or container,
# without a tty. Env: QCAL_SLURM_DIR, QCAL_SLURM_PORT, QCAL_SLURM_TIMEOUT (start wait, s, 60).
set -euo pipefail

DIR=${QCAL_SLURM_DIR:-/var/spool/qcal-slurm}
PORT=${QCAL_SLURM_PORT:-6827}
TIMEOUT=${QCAL_SLURM_TIMEOUT:-60}
CONF=$DIR/slurm.conf
RUN=$DIR/run
LOG=$DIR/log
NODE=$(hostname -s 2>/dev/null || uname -n | cut -d. -f1)
HEADER="# qcal test cluster, written by tests/slurm/cluster.sh start (rewritten when it differs)"
export SLURM_CONF=$CONF
export PATH=$PATH:/usr/sbin:/sbin

say() { printf 'cluster.sh: %s\n' "$*"; }
die() { printf 'cluster.sh: error: %s\n' "$*" >&2; exit 1; }

if [ "${1:-}" = env ]; then
    echo "export SLURM_CONF=$CONF"
    exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
    # The daemons and the package installation need root; re-run through sudo only when that
    # needs no password (no tty in CI).
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        exec sudo -n -E "$0" "$@"
    fi
    die "must run as root (or with passwordless sudo)"
fi

# ---- processes we started --------------------------------------------------------------------
# ours NAME: the pid in $RUN/NAME.pid if it is a live (not zombie) process called NAME, so that a
# stale pid file whose number was reused never makes us signal another program.
ours() {
    local f=$RUN/$1.pid pid
    [ -s "$f" ] || return 1
    pid=$(cat "$f")
    [ -r "/proc/$pid/stat" ] || return 1
    [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$1" ] || return 1
    [ "$(cut -d' ' -f3 <"/proc/$pid/stat" 2>/dev/null)" != Z ] || return 1
    echo "$pid"
}

# launch NAME CMD...: runs a daemon that stays in the foreground (-D/-F) in a new session
# (no controlling terminal, not in the caller's process group, so the end of a test or a
# Ctrl-C does not hit it), output to $LOG/NAME.out, pid to $RUN/NAME.pid.
launch() {
    local name=$1
    shift
    (
        # The daemon must not keep the caller's other open files (a test's lock file, a pipe
        # that someone waits on to close): close every descriptor above 2. The subshell
        # and setsid exec in place, so $! is the daemon's pid.
        for fd in /proc/self/fd/*; do
            fd=${fd##*/}
            [ "$fd" -gt 2 ] && eval "exec $fd>&-"
        done 2>/dev/null
        exec setsid "$@" </dev/null >"$LOG/$name.out" 2>&1
    ) &
    echo $! >"$RUN/$name.pid"
    local _
    for _ in 1 2 3 4 5; do
        sleep 0.2
        ours "$name" >/dev/null || break
    done
    if ! ours "$name" >/dev/null; then
        tail -n 20 "$LOG/$name.out" >&2 || true
        die "$name exited right after it was started (see $LOG/$name.out)"
    fi
    say "started $name, pid $(cat "$RUN/$name.pid")"
}

# halt NAME: SIGTERM to our NAME, up to 15 s to exit, then SIGKILL.
halt() {
    local pid _
    pid=$(ours "$1") || { rm -f "$RUN/$1.pid"; return 0; }
    say "stopping $1, pid $pid"
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 30); do
        ours "$1" >/dev/null || break
        sleep 0.5
    done
    if ours "$1" >/dev/null; then
        say "$1 still runs after 15 s: SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
        sleep 0.5
    fi
    rm -f "$RUN/$1.pid"
}

# ---- packages ------------------------------------------------------------------------------
install_packages() {
    local need=0 c
    for c in slurmctld slurmd sbatch srun squeue scontrol munged munge unmunge; do
        command -v "$c" >/dev/null 2>&1 || need=1
    done
    # Slurm's mpi/pmix plugin loads libpmix at run time; nothing else would pull it in.
    dpkg -s libpmix2 >/dev/null 2>&1 || need=1
    [ "$need" = 0 ] && return 0
    local apt=(apt-get install -y -q --no-install-recommends -o DPkg::Lock::Timeout=900
               slurm-wlm munge libpmix2)
    say "installing slurm-wlm munge libpmix2 (apt-get log: /tmp/qcal-slurm-apt.log)"
    export DEBIAN_FRONTEND=noninteractive
    if ! "${apt[@]}" >/tmp/qcal-slurm-apt.log 2>&1; then
        # A fresh machine may have no package lists yet.
        apt-get update -q -o DPkg::Lock::Timeout=900 >>/tmp/qcal-slurm-apt.log 2>&1 || true
        "${apt[@]}" >>/tmp/qcal-slurm-apt.log 2>&1 ||
            { tail -n 20 /tmp/qcal-slurm-apt.log >&2; die "apt-get install slurm-wlm failed"; }
    fi
}

# ---- munge -----------------------------------------------------------------------------------
munge_ok() { munge -n 2>/dev/null | unmunge >/dev/null 2>&1; }

start_munge() {
    install -d -o munge -g munge -m 0700 /etc/munge /var/lib/munge /var/log/munge
    install -d -o munge -g munge -m 0755 /run/munge
    if [ ! -s /etc/munge/munge.key ]; then
        say "creating /etc/munge/munge.key"
        if command -v mungekey >/dev/null 2>&1; then
            mungekey --create --keyfile=/etc/munge/munge.key
        else
            dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
        fi
    fi
    chown munge:munge /etc/munge/munge.key
    chmod 0400 /etc/munge/munge.key
    if munge_ok; then
        # The machine's own munged (or ours from an earlier start): use it, never stop it
        # unless we started it.
        ours munged >/dev/null || say "using the munged that already runs (stop leaves it)"
        return 0
    fi
    # Nothing answers: a dead munged's socket and lock would make the new one refuse to start.
    rm -f /run/munge/munge.socket.2 /run/munge/munge.socket.2.lock
    # setpriv replaces itself with munged, so the recorded pid is munged's.
    launch munged setpriv --reuid=munge --regid=munge --init-groups /usr/sbin/munged -F
    local _
    for _ in $(seq 20); do
        munge_ok && return 0
        sleep 0.5
    done
    tail -n 20 "$LOG/munged.out" /var/log/munge/munged.log >&2 2>/dev/null || true
    die "munged does not answer (munge -n | unmunge)"
}

# ---- configuration -------------------------------------------------------------------------
config() {
    local mem
    # 90 % of the memory in MiB: slurmd may measure a little less than free(1), and a node
    # with less memory than its RealMemory would be drained.
    mem=$(awk '/^MemTotal:/ { printf "%d", $2 / 1024 * 0.9 }' /proc/meminfo)
    cat <<EOF
$HEADER
ClusterName=qcal-test
SlurmctldHost=$NODE(127.0.0.1)
SlurmctldPort=$PORT
SlurmdPort=$((PORT + 1))
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
MpiDefault=pmix
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerType=sched/backfill
ReturnToService=2
SlurmdParameters=config_overrides
PropagateResourceLimits=NONE
MailProg=/bin/true
StateSaveLocation=$DIR/ctld
SlurmdSpoolDir=$DIR/d
SlurmctldPidFile=$RUN/slurmctld.self.pid
SlurmdPidFile=$RUN/slurmd.self.pid
SlurmctldLogFile=$LOG/slurmctld.log
SlurmdLogFile=$LOG/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
InactiveLimit=0
KillWait=10
MinJobAge=300
SlurmctldTimeout=120
SlurmdTimeout=300
Waittime=0
NodeName=$NODE NodeAddr=127.0.0.1 CPUs=$(nproc) RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=$NODE Default=YES MaxTime=INFINITE State=UP
EOF
}

# ---- node ------------------------------------------------------------------------------------
node_state() { { sinfo -h -N -n "$NODE" -o '%T' 2>/dev/null || true; } | head -n 1; }

usable() {
    case "$1" in idle|mixed|allocated|completing) return 0 ;; *) return 1 ;; esac
}

logs() {
    {
        echo "---- scontrol show node $NODE"
        scontrol show node "$NODE" 2>&1 | head -n 20 || true
        local f
        for f in "$LOG"/slurmctld.log "$LOG"/slurmd.log "$LOG"/*.out; do
            [ -s "$f" ] && { echo "---- $f"; tail -n 15 "$f"; }
        done
    } >&2
}

wait_node() {
    local t0=$SECONDS st resumed=0
    while :; do
        st=$(node_state)
        if usable "$st"; then
            say "node $NODE is $st"
            return 0
        fi
        case "$st" in
        *drain*|down*|fail*)
            # Saved state of an earlier run (a job killed with the daemons): resume once.
            if [ "$resumed" = 0 ] && ours slurmd >/dev/null; then
                resumed=1
                say "node is $st (saved state), resuming it"
                scontrol update NodeName="$NODE" State=RESUME >/dev/null 2>&1 || true
            fi
            ;;
        esac
        if [ $((SECONDS - t0)) -ge "$TIMEOUT" ]; then
            logs
            die "node $NODE does not take jobs after ${TIMEOUT} s (state '${st:-no answer}')"
        fi
        sleep 0.5
    done
}

# port_busy P: something listens on TCP port P.
port_busy() {
    local hex
    hex=$(printf '%04X' "$1")
    awk -v h=":$hex" 'NR > 1 && $4 == "0A" && substr($2, length($2) - 4) == h { f = 1 }
                      END { exit !f }' /proc/net/tcp /proc/net/tcp6 2>/dev/null
}

# ---- commands --------------------------------------------------------------------------------
start() {
    install_packages
    install -d -m 0755 "$DIR" "$DIR/ctld" "$DIR/d" "$LOG" "$RUN"
    local want
    want=$(config)
    if [ -f "$CONF" ] && [ "$want" = "$(cat "$CONF")" ]; then
        say "config unchanged: $CONF"
    else
        printf '%s\n' "$want" >"$CONF.tmp"
        mv "$CONF.tmp" "$CONF"
        say "wrote $CONF"
        if ours slurmctld >/dev/null || ours slurmd >/dev/null; then
            say "config changed: restarting our slurm daemons"
            halt slurmd
            halt slurmctld
        fi
    fi
    # Someone else's daemon on our ports (a cluster whose pid files are gone): refuse.
    local p name
    for name in slurmctld slurmd; do
        p=$PORT
        [ "$name" = slurmd ] && p=$((PORT + 1))
        if ! ours "$name" >/dev/null && port_busy "$p"; then
            die "port $p ($name) is taken by a process this script did not start; stop it or" \
                "use QCAL_SLURM_PORT=another"
        fi
    done
    start_munge
    ours slurmctld >/dev/null || launch slurmctld /usr/sbin/slurmctld -D -f "$CONF"
    local _
    for _ in $(seq 20); do
        scontrol ping >/dev/null 2>&1 && break
        sleep 0.5
    done
    ours slurmd >/dev/null || launch slurmd /usr/sbin/slurmd -D -f "$CONF" -N "$NODE"
    wait_node
    say "ready: partition debug, node $NODE, $(nproc) CPUs; export SLURM_CONF=$CONF"
}

stop() {
    if ours slurmctld >/dev/null; then
        local jobs _
        jobs=$(squeue -h -o '%A' 2>/dev/null | tr '\n' ' ' || true)
        if [ -n "${jobs// /}" ]; then
            say "cancelling jobs $jobs"
            # shellcheck disable=SC2086
            scancel $jobs 2>/dev/null || true
            for _ in $(seq 40); do
                [ -z "$(squeue -h 2>/dev/null)" ] && break
                sleep 0.5
            done
        fi
    fi
    halt slurmd
    halt slurmctld
    halt munged
    rm -f "$RUN/slurmctld.self.pid" "$RUN/slurmd.self.pid"
    say "stopped"
}

status() {
    local name rc=0 pid st
    for name in munged slurmctld slurmd; do
        if pid=$(ours "$name"); then
            say "$name: running, pid $pid"
        elif [ "$name" = munged ] && munge_ok 2>/dev/null; then
            say "munged: running (not started by this script)"
        else
            say "$name: not running"
            rc=3
        fi
    done
    st=$(node_state)
    say "node $NODE: ${st:-no answer from slurmctld}"
    usable "$st" || rc=3
    return "$rc"
}

case "${1:-}" in
start) start ;;
stop) stop ;;
status) status ;;
*) echo "usage: $0 start|stop|status|env" >&2; exit 2 ;;
esac
