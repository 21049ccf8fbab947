#!/usr/bin/env bash
# Stop the local test cluster that cluster/up.sh started: cancel its jobs,
# stop its daemons (by pid file only), end the ssh sessions of its login user,
# kill leftover tmux servers whose sockets live under its directory, and remove
# the slurm cgroups it left behind.
# Idempotent: exits 0 when nothing runs. Keeps the directory (keys, ports,
# state, logs) so the next up.sh reuses it; `down.sh --purge` also deletes it.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$HERE/lib.sh"

STOP_TIMEOUT=${SAC_TESTCLUSTER_TIMEOUT:-30}
PURGE=0
case ${1:-} in
    --purge) PURGE=1 ;;
    "") ;;
    *)
        echo "usage: cluster/down.sh [--purge]" >&2
        exit 2
        ;;
esac

say() { printf 'cluster/down.sh: %s\n' "$*"; }
warn() { printf 'cluster/down.sh: warning: %s\n' "$*" >&2; }

status=0
stopped=0

# wait_gone TIMEOUT PID COMM: wait until PID is no longer a live COMM.
wait_gone() {
    local deadline=$((SECONDS + $1))
    while proc_alive "$2" "$3"; do
        ((SECONDS < deadline)) || return 1
        sleep 0.2
    done
}

# cancel_jobs: scancel every job while slurmctld still answers, then wait
# (with a deadline) until no job is left on the nodes.
cancel_jobs() {
    [[ -f $CONF ]] && daemon_alive slurmctld || return 0
    local ids
    ids=$(SLURM_CONF=$CONF timeout 10 squeue -h -o %A 2>/dev/null | tr '\n' ' ') || return 0
    [[ -n ${ids// /} ]] || return 0
    say "cancelling jobs: $ids"
    # shellcheck disable=SC2086
    SLURM_CONF=$CONF timeout 10 scancel $ids || true
    local deadline=$((SECONDS + STOP_TIMEOUT))
    while [[ -n $(SLURM_CONF=$CONF timeout 10 squeue -h -o %A 2>/dev/null) ]]; do
        if ((SECONDS >= deadline)); then
            warn "jobs still listed after ${STOP_TIMEOUT}s; stopping the daemons anyway"
            return 0
        fi
        sleep 0.2
    done
}

# stop NAME: SIGTERM the daemon named in NAME's pid file, wait for it to go,
# SIGKILL it if it would not.
stop() {
    local name=$1 pid comm
    pid=$(pid_of "$name")
    comm=$(comm_of "$name")
    if ! proc_alive "$pid" "$comm"; then
        rm -f "$(pidfile_of "$name")"
        return 0
    fi
    kill -TERM "$pid" 2>/dev/null || true
    if ! wait_gone "$STOP_TIMEOUT" "$pid" "$comm"; then
        warn "$name (pid $pid) ignored SIGTERM for ${STOP_TIMEOUT}s: SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
        wait_gone 5 "$pid" "$comm" || {
            warn "$name (pid $pid) is still alive"
            status=1
            return 0
        }
    fi
    rm -f "$(pidfile_of "$name")"
    say "stopped $name (pid $pid)"
    stopped=$((stopped + 1))
}

# kill_tmux_servers: tmux servers still listening on a socket under the
# cluster's TMUX_TMPDIR (left by jobs or tests) are shut down by socket.
kill_tmux_servers() {
    [[ -d $TMUXDIR ]] || return 0
    local sock owner
    while IFS= read -r -d '' sock; do
        owner=$(stat -c %U "$sock")
        # tmux lets only the server's owner in: ask as that user.
        if [[ $owner == root || $EUID -ne 0 ]]; then
            tmux -S "$sock" kill-server 2>/dev/null && say "killed tmux server $sock"
        else
            runuser -u "$owner" -- tmux -S "$sock" kill-server 2>/dev/null &&
                say "killed tmux server $sock"
        fi
        rm -f "$sock"
    done < <(find "$TMUXDIR" -type s -print0 2>/dev/null)
}

# end_ssh_sessions: the login node's per-connection sshd processes outlive the
# listener; they (and so the clients' shared connections to them) end here.
# The cluster's user exists for the cluster alone.
end_ssh_sessions() {
    local pids
    pids=$(pgrep -f "^sshd: $CLUSTER_USER( |@|\$)" || true)
    [[ -n $pids ]] || return 0
    # shellcheck disable=SC2086
    kill -TERM $pids 2>/dev/null || true
    say "ended ssh sessions of $CLUSTER_USER: ${pids//$'\n'/ }"
}

# remove_cgroups: the cgroup directories our slurmd made (slurm_n1, slurm_n2:
# several slurmd on one host name theirs after the node) in every cgroup v1
# hierarchy, deepest first. A cgroup that still holds a process stays.
remove_cgroups() {
    local top dir node
    for node in "${NODES[@]}"; do
        for top in /sys/fs/cgroup/*/"slurm_$node"; do
            [[ -d $top ]] || continue
            while IFS= read -r dir; do
                rmdir "$dir" 2>/dev/null || warn "could not remove cgroup $dir (still in use?)"
            done < <(find "$top" -depth -type d)
        done
    done
}

main() {
    if [[ ! -d $D ]]; then
        say "nothing to stop ($D does not exist)"
        return 0
    fi
    exec 9>"$D/.lock"
    flock -w 120 9 || {
        warn "another cluster/up.sh or down.sh holds $D/.lock"
        return 1
    }
    cancel_jobs
    # slurmctld first, so that it saves its state with the nodes still up.
    local name
    for name in slurmctld slurmd-n1 slurmd-n2 sshd munged; do
        stop "$name"
    done
    ((stopped)) || say "no daemon of the test cluster was running"
    end_ssh_sessions
    kill_tmux_servers
    remove_cgroups
    if ((PURGE)); then
        rm -rf "$D"
        say "removed $D"
    fi
    return "$status"
}

main "$@"
