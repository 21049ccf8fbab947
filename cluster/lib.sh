# shellcheck shell=bash disable=SC2034  # the variables are for the scripts sourcing this
# Shared by up.sh, down.sh and status.sh: where the test cluster lives and how
# to tell whether one of its daemons is alive. Sourced, never run.

D=${SAC_TESTCLUSTER_DIR:-/tmp/sac-testcluster}
case $D in
    /*) ;;
    *) D=$PWD/$D ;;
esac
D=${D%/}

CLUSTER_USER=${SAC_TESTCLUSTER_USER:-sacuser}
HOST_ALIAS=sac-login
NODES=(n1 n2)

CONF=$D/slurm.conf
RUN=$D/run
LOGDIR=$D/log
SSHDIR=$D/ssh
HOMEDIR=$D/home
TMUXDIR=$D/tmux
WORKDIR=$D/work
MUNGE_SOCKET=$D/munge/munge.socket.2
SSH_CONFIG=$D/ssh_config

# Every daemon the cluster runs: name, pid file, expected process name, log.
DAEMONS=(munged slurmctld slurmd-n1 slurmd-n2 sshd)

pidfile_of() { printf '%s/%s.pid\n' "$RUN" "$1"; }
logfile_of() { printf '%s/%s.log\n' "$LOGDIR" "$1"; }
comm_of() {
    case $1 in
        slurmd-*) echo slurmd ;;
        *) echo "$1" ;;
    esac
}

# pid_of NAME: the pid recorded in NAME's pid file (empty when none).
pid_of() {
    local f pid=
    f=$(pidfile_of "$1")
    [[ -s $f ]] && read -r pid <"$f"
    pid=${pid//[!0-9]/}
    printf '%s\n' "$pid"
}

# proc_alive PID COMM: PID is a live process called COMM. PID 1 on these
# machines does not reap orphans, so a dead daemon lingers as a zombie and
# `kill -0` would call it alive: look at the state instead.
proc_alive() {
    local pid=$1 comm=$2 stat name
    [[ -n $pid ]] || return 1
    read -r stat name < <(ps -o stat=,comm= -p "$pid" 2>/dev/null) || return 1
    [[ $stat != Z* && $name == "$comm" ]]
}

# daemon_alive NAME: the daemon NAME of this cluster runs.
daemon_alive() {
    proc_alive "$(pid_of "$1")" "$(comm_of "$1")"
}

# log_tails N [DAEMON...]: the last N lines of the logs of the DAEMONs (of
# every daemon when none is named) that exist.
log_tails() {
    local n=$1 name f
    shift
    (($#)) || set -- "${DAEMONS[@]}"
    for name in "$@"; do
        f=$(logfile_of "$name")
        [[ -s $f ]] || continue
        printf -- '----- %s (last %s lines) -----\n' "$f" "$n"
        tail -n "$n" "$f"
    done
}
