#!/usr/bin/env bash
# A real one-node Slurm cluster on this machine, for the tests of `pframe submit`.
#
#   scripts/slurm-local.sh start    # installs Slurm and munge if needed (apt), starts munged,
#                                   # slurmctld and slurmd, waits until the node is idle
#   scripts/slurm-local.sh stop     # cancels every job, stops the daemons
#
# Needs root. No systemd: the daemons are started by hand, their state, spool, logs and pid files
# live under $SLURM_LOCAL_DIR (default /tmp/pframe-slurm). MinJobAge=5 and batch_sched_delay=0
# keep an array plus a merge job to a few seconds; finished jobs leave squeue after 5 s.
set -euo pipefail
DIR=${SLURM_LOCAL_DIR:-/tmp/pframe-slurm}
HOST=$(hostname -s)
CONF=/etc/slurm/slurm.conf

log() { echo "slurm-local: $*" >&2; }

install() {
    command -v slurmctld > /dev/null && command -v slurmd > /dev/null && command -v sbatch > /dev/null \
        && command -v munged > /dev/null && return
    log "installing slurmctld slurmd slurm-client munge"
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -qq --no-install-recommends slurmctld slurmd slurm-client munge > /dev/null \
        || { apt-get update -qq && apt-get install -y -qq --no-install-recommends slurmctld slurmd slurm-client munge > /dev/null; }
}

start_munge() {
    mkdir -p /run/munge /etc/munge
    chown munge:munge /run/munge
    chmod 0755 /run/munge
    if [ ! -s /etc/munge/munge.key ]; then
        dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
    fi
    chown munge:munge /etc/munge/munge.key
    chmod 0400 /etc/munge/munge.key
    if ! munge -n > /dev/null 2>&1; then
        runuser -u munge -- /usr/sbin/munged
        for _ in $(seq 50); do munge -n > /dev/null 2>&1 && break; sleep 0.1; done
    fi
}

write_conf() {
    mkdir -p "$DIR/state" "$DIR/spool" "$DIR/log" /etc/slurm
    # The node as slurmd sees it (CPUs, sockets, cores, memory), on loopback.
    local node
    node=$(slurmd -C | head -1 | sed -E "s/^NodeName=[^ ]+/NodeName=$HOST NodeAddr=127.0.0.1/")
    cat > "$CONF" <<CONF
ClusterName=pframe
SlurmctldHost=$HOST(127.0.0.1)
SlurmUser=root
AuthType=auth/munge
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool
SlurmctldPidFile=$DIR/slurmctld.pid
SlurmdPidFile=$DIR/slurmd.pid
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MinJobAge=5
SchedulerParameters=batch_sched_delay=0
ReturnToService=2
$node State=UNKNOWN
PartitionName=debug Nodes=$HOST Default=YES MaxTime=INFINITE State=UP
CONF
}

start() {
    [ "$(id -u)" = 0 ] || { log "must run as root"; exit 1; }
    install
    start_munge
    write_conf
    stop_daemons
    slurmctld
    slurmd -N "$HOST"
    for _ in $(seq 300); do
        state=$(sinfo -h -n "$HOST" -o %t 2> /dev/null || true)
        if [ "$state" = idle ]; then
            log "node $HOST idle"
            return 0
        fi
        sleep 0.1
    done
    log "the node did not become idle (state: ${state:-none}); logs in $DIR/log"
    tail -5 "$DIR/log/slurmctld.log" "$DIR/log/slurmd.log" >&2 || true
    exit 1
}

stop_daemons() {
    for d in slurmd slurmctld; do
        if [ -s "$DIR/$d.pid" ]; then
            kill "$(cat "$DIR/$d.pid")" 2> /dev/null || true
        fi
    done
    for _ in $(seq 50); do
        pgrep -x slurmctld > /dev/null || pgrep -x slurmd > /dev/null || break
        sleep 0.1
    done
    pkill -x slurmd 2> /dev/null || true
    pkill -x slurmctld 2> /dev/null || true
}

stop() {
    # Jobs first: their slurmstepd outlives slurmd.
    scancel --user=root 2> /dev/null || true
    sleep 0.5
    pkill -x slurmstepd 2> /dev/null || true
    stop_daemons
    log "stopped"
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
