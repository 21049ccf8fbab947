#!/usr/bin/env bash
# Start (or reuse) the throwaway local test cluster: munged, slurmctld, two
# slurmd nodes (n1, n2) in partition "debug", and an sshd on 127.0.0.1 that
# plays the login node. Everything lives under ${SAC_TESTCLUSTER_DIR:-/tmp/sac-testcluster}.
# Idempotent: a second call finds the healthy cluster and returns at once.
# See cluster/README.md.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$HERE/lib.sh"

START_TIMEOUT=${SAC_TESTCLUSTER_TIMEOUT:-30}
# tcsh: the tests give the login user a csh login shell too (sac must not
# depend on the login shell being bash).
APT_PACKAGES=(slurm-wlm munge openssh-server tmux tcsh)
DAEMON_PATH=/usr/sbin:/usr/bin:/sbin:/bin

say() { printf 'cluster/up.sh: %s\n' "$*"; }
die() {
    printf 'cluster/up.sh: error: %s\n' "$*" >&2
    exit 1
}
# die_with_logs MESSAGE [DAEMON...]: fail, showing the tails of the logs of
# the DAEMONs (of every daemon when none is named).
die_with_logs() {
    printf 'cluster/up.sh: error: %s\n' "$1" >&2
    shift
    log_tails 25 "$@" >&2
    exit 1
}

# --- packages ---------------------------------------------------------------

missing_commands() {
    local c
    for c in slurmctld slurmd sinfo sbatch munged mungekey tmux tcsh ssh ssh-keygen python3 useradd flock runuser; do
        PATH=$PATH:$DAEMON_PATH command -v "$c" >/dev/null 2>&1 || printf '%s\n' "$c"
    done
    [[ -x /usr/sbin/sshd ]] || echo sshd
}

ensure_packages() {
    local missing
    missing=$(missing_commands)
    [[ -z $missing ]] && return 0
    local pkgs=("${APT_PACKAGES[@]}")
    grep -qx python3 <<<"$missing" && pkgs+=(python3)
    if [[ $EUID -ne 0 ]] || ! command -v apt-get >/dev/null 2>&1; then
        {
            echo "cluster/up.sh: missing commands: $(tr '\n' ' ' <<<"$missing")"
            echo "Install them (Debian/Ubuntu, as root) with:"
            echo "  apt-get update && apt-get install -y --no-install-recommends ${pkgs[*]}"
        } >&2
        exit 1
    fi
    say "installing ${pkgs[*]}"
    export DEBIAN_FRONTEND=noninteractive
    local apt_log=/tmp/sac-testcluster-apt.$$.log
    # `apt-get update` only when the package lists are empty or too old to
    # know the packages.
    if ! compgen -G '/var/lib/apt/lists/*Packages*' >/dev/null ||
        ! apt-get install -y --no-install-recommends "${pkgs[@]}" >"$apt_log" 2>&1; then
        apt-get update >"$apt_log" 2>&1 || { cat "$apt_log" >&2; die "apt-get update failed"; }
        apt-get install -y --no-install-recommends "${pkgs[@]}" >"$apt_log" 2>&1 ||
            { cat "$apt_log" >&2; die "apt-get install failed"; }
    fi
    rm -f "$apt_log"
    missing=$(missing_commands)
    [[ -z $missing ]] || die "still missing after install: $(tr '\n' ' ' <<<"$missing")"
}

# --- small helpers ------------------------------------------------------------

# write_file FILE MODE: write stdin to FILE (atomically), only if it changed.
write_file() {
    local f=$1 mode=$2 tmp
    tmp=$(mktemp "$f.XXXXXX")
    cat >"$tmp"
    chmod "$mode" "$tmp"
    if [[ -f $f ]] && cmp -s "$tmp" "$f"; then
        rm -f "$tmp"
    else
        mv -f "$tmp" "$f"
    fi
}

q() { printf '%q' "$1"; }

# free_ports N: N distinct TCP ports (20000-29999, below the ephemeral range)
# that nothing listens on.
free_ports() {
    python3 - "$1" <<'EOF'
import random, socket, sys
want, held, got = int(sys.argv[1]), [], []
candidates = list(range(20000, 30000))
random.shuffle(candidates)
for port in candidates:
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        s.bind(("", port))
    except OSError:
        s.close()
        continue
    held.append(s)
    got.append(port)
    if len(got) == want:
        break
print(" ".join(map(str, got)))
EOF
}

# port_free PORT: nothing listens on PORT.
port_free() {
    python3 - "$1" <<'EOF'
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
try:
    s.bind(("", int(sys.argv[1])))
except OSError:
    sys.exit(1)
EOF
}

# poll SECONDS WHAT CMD...: run CMD every 0.2 s until it succeeds or the
# deadline passes (then fail with the daemon logs).
# poll SECONDS WHAT CMD... [-- DAEMON...]: run CMD every 0.2 s until it
# succeeds; at the deadline fail with the logs of the DAEMONs (or of all).
poll() {
    local timeout=$1 what=$2
    shift 2
    local cmd=() logs=()
    while (($#)) && [[ $1 != -- ]]; do
        cmd+=("$1")
        shift
    done
    (($#)) && shift && logs=("$@")
    local deadline=$((SECONDS + timeout))
    until "${cmd[@]}"; do
        ((SECONDS < deadline)) ||
            die_with_logs "timed out after ${timeout}s waiting for $what" "${logs[@]}"
        sleep 0.2
    done
}

# --- health -------------------------------------------------------------------

all_daemons_alive() {
    local name
    for name in "${DAEMONS[@]}"; do
        daemon_alive "$name" || return 1
    done
}

nodes_ready() {
    local out
    out=$(SLURM_CONF=$CONF timeout 10 sinfo -h -N -o '%N %t' 2>/dev/null) || return 1
    local node
    for node in "${NODES[@]}"; do
        grep -Eq "^$node (idle|mix|alloc|comp)\$" <<<"$out" || return 1
    done
}

# nodes_ready_or_die: nodes_ready, but give up at once when a daemon died. A
# node drained before this start (by slurmctld, when an earlier configuration
# did not match what its slurmd reported) is taken back into service: every
# daemon was started afresh with the configuration written now.
nodes_ready_or_die() {
    local name
    for name in "${DAEMONS[@]}"; do
        daemon_alive "$name" || die_with_logs "$name exited during startup" "$name"
    done
    local drained
    drained=$(SLURM_CONF=$CONF timeout 10 sinfo -h -N -t drain,drng -o '%N' 2>/dev/null | sort -u | paste -sd, -)
    if [[ -n $drained ]] && ((started_slurmctld && started_slurmds == ${#NODES[@]})); then
        SLURM_CONF=$CONF scontrol update nodename="$drained" state=resume 2>/dev/null || true
    fi
    nodes_ready
}

ssh_ready() {
    timeout 10 ssh -F "$SSH_CONFIG" "$HOST_ALIAS" true </dev/null >/dev/null 2>&1
}

healthy() {
    [[ -f $D/env.sh && -f $SSH_CONFIG ]] && all_daemons_alive && nodes_ready && ssh_ready
}

# --- setup ----------------------------------------------------------------------

choose_ports() {
    local have=0 name
    if [[ -s $D/ports.env ]]; then
        # shellcheck source=/dev/null
        . "$D/ports.env"
        [[ -n ${SLURMCTLD_PORT:-} && -n ${SLURMD_N1_PORT:-} && -n ${SLURMD_N2_PORT:-} && -n ${SSHD_PORT:-} ]] && have=1
    fi
    if ((have)); then
        # Keep the recorded ports unless one of them was taken meanwhile.
        local busy=()
        daemon_alive slurmctld || port_free "$SLURMCTLD_PORT" || busy+=("$SLURMCTLD_PORT")
        daemon_alive slurmd-n1 || port_free "$SLURMD_N1_PORT" || busy+=("$SLURMD_N1_PORT")
        daemon_alive slurmd-n2 || port_free "$SLURMD_N2_PORT" || busy+=("$SLURMD_N2_PORT")
        daemon_alive sshd || port_free "$SSHD_PORT" || busy+=("$SSHD_PORT")
        ((${#busy[@]} == 0)) && return 0
        for name in slurmctld slurmd-n1 slurmd-n2 sshd; do
            daemon_alive "$name" &&
                die "port(s) ${busy[*]} of $D/ports.env are taken by another program; run cluster/down.sh, then up.sh again"
        done
        say "port(s) ${busy[*]} taken by another program: choosing new ports"
    fi
    local ports
    read -r -a ports <<<"$(free_ports 4)"
    ((${#ports[@]} == 4)) || die "could not find 4 free TCP ports in 20000-29999"
    SLURMCTLD_PORT=${ports[0]} SLURMD_N1_PORT=${ports[1]} SLURMD_N2_PORT=${ports[2]} SSHD_PORT=${ports[3]}
    write_file "$D/ports.env" 644 <<EOF
# TCP ports of the test cluster, chosen by cluster/up.sh and reused by later runs.
SLURMCTLD_PORT=$SLURMCTLD_PORT
SLURMD_N1_PORT=$SLURMD_N1_PORT
SLURMD_N2_PORT=$SLURMD_N2_PORT
SSHD_PORT=$SSHD_PORT
EOF
}

ensure_user() {
    if ! getent passwd "$CLUSTER_USER" >/dev/null; then
        useradd --no-create-home --home-dir "$HOMEDIR" --shell /bin/bash \
            --comment "sac test cluster" --user-group "$CLUSTER_USER" ||
            die "useradd $CLUSTER_USER failed"
    fi
    if [[ $(getent passwd "$CLUSTER_USER" | cut -d: -f6) != "$HOMEDIR" ]]; then
        usermod --home "$HOMEDIR" "$CLUSTER_USER"
    fi
    # sshd (without PAM) refuses accounts whose password field starts with
    # "!" (locked); "*" means "no password" and allows key logins.
    if [[ $(getent shadow "$CLUSTER_USER" | cut -d: -f2) != '*' ]]; then
        usermod --password '*' "$CLUSTER_USER"
    fi
}

make_dirs() {
    mkdir -p "$RUN" "$LOGDIR" "$SSHDIR" "$D/munge" "$D/state" "$D/spool/n1" "$D/spool/n2" "$D/dev"
    local i
    for i in 0 1 2 3; do
        [[ -c $D/dev/gpu$i ]] || mknod "$D/dev/gpu$i" c 1 3
    done
    chmod 755 "$RUN" "$LOGDIR" "$SSHDIR" "$D/munge"
    chmod 700 "$D/state"
    mkdir -p "$HOMEDIR" "$TMUXDIR"
    chown "$CLUSTER_USER:" "$HOMEDIR" "$TMUXDIR"
    chmod 755 "$HOMEDIR"
    chmod 700 "$TMUXDIR"
    mkdir -p "$WORKDIR"
    chmod 1777 "$WORKDIR"
    mkdir -p /run/sshd
}

make_keys() {
    [[ -s $D/munge/munge.key ]] || mungekey --create --keyfile="$D/munge/munge.key"
    chmod 400 "$D/munge/munge.key"
    [[ -s $SSHDIR/ssh_host_ed25519_key ]] ||
        ssh-keygen -q -t ed25519 -N '' -C sac-testcluster-host -f "$SSHDIR/ssh_host_ed25519_key"
    [[ -s $SSHDIR/id_ed25519 ]] ||
        ssh-keygen -q -t ed25519 -N '' -C sac-testcluster-user -f "$SSHDIR/id_ed25519"
    chmod 600 "$SSHDIR/ssh_host_ed25519_key" "$SSHDIR/id_ed25519"
    chmod 644 "$SSHDIR/ssh_host_ed25519_key.pub" "$SSHDIR/id_ed25519.pub"
}

write_configs() {
    local host
    host=$(hostname)
    write_file "$CONF" 644 <<EOF
# slurm.conf of the sac test cluster (generated by cluster/up.sh).
ClusterName=sactest
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$SLURMCTLD_PORT
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$MUNGE_SOCKET
CredType=cred/munge
StateSaveLocation=$D/state
SlurmdSpoolDir=$D/spool/%n
SlurmctldPidFile=$RUN/slurmctld.pid
SlurmdPidFile=$RUN/slurmd-%n.pid
SlurmctldLogFile=$LOGDIR/slurmctld.log
SlurmdLogFile=$LOGDIR/slurmd-%n.log
SlurmctldDebug=info
SlurmdDebug=info
ProctrackType=proctrack/cgroup
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
# Try to start a batch job as soon as it is submitted (default: up to 3 s later).
SchedulerParameters=batch_sched_delay=0
SlurmdParameters=config_overrides
PlugStackConfig=$D/plugstack.conf
MpiDefault=none
MailProg=/bin/true
JobRequeue=1
# Preemption: a job of partition "high" takes the cores of "debug" jobs, which
# are requeued (the tests of requeue and resume use it).
PreemptType=preempt/partition_prio
PreemptMode=REQUEUE
# GPUs without hardware: character devices standing in for them (gres.conf).
GresTypes=gpu
ReturnToService=2
KillWait=2
MinJobAge=60
InactiveLimit=0
SlurmctldTimeout=30
SlurmdTimeout=60
NodeName=n1 NodeHostname=$host NodeAddr=127.0.0.1 Port=$SLURMD_N1_PORT CPUs=4 RealMemory=8000 Gres=gpu:2 Features=fast State=UNKNOWN
NodeName=n2 NodeHostname=$host NodeAddr=127.0.0.1 Port=$SLURMD_N2_PORT CPUs=4 RealMemory=8000 Gres=gpu:2 Features=slow State=UNKNOWN
PartitionName=debug Nodes=n1,n2 Default=YES MaxTime=INFINITE PriorityTier=1 State=UP
PartitionName=high Nodes=n1,n2 MaxTime=INFINITE PriorityTier=10 PreemptMode=OFF State=UP
EOF
    write_file "$D/gres.conf" 644 <<EOF
# gres.conf of the sac test cluster (generated by cluster/up.sh): two stand-in
# GPUs per node (slurmd accepts only character or block devices here).
NodeName=n1 Name=gpu File=$D/dev/gpu[0-1]
NodeName=n2 Name=gpu File=$D/dev/gpu[2-3]
EOF
    write_file "$D/cgroup.conf" 644 <<EOF
# cgroup.conf of the sac test cluster (generated by cluster/up.sh).
CgroupPlugin=cgroup/v1
CgroupAutomount=no
ConstrainCores=no
ConstrainDevices=no
ConstrainRAMSpace=no
ConstrainSwapSpace=no
EOF
    write_file "$D/plugstack.conf" 644 </dev/null

    write_file "$SSHDIR/sshd_config" 644 <<EOF
# sshd_config of the sac test cluster's login node (generated by cluster/up.sh).
Port $SSHD_PORT
ListenAddress 127.0.0.1
HostKey "$SSHDIR/ssh_host_ed25519_key"
PidFile "$RUN/sshd.pid"
AuthorizedKeysFile "$SSHDIR/id_ed25519.pub"
AllowUsers $CLUSTER_USER
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
UseDNS no
PrintMotd no
PrintLastLog no
X11Forwarding no
MaxStartups 100:30:200
MaxSessions 100
Subsystem sftp internal-sftp
SetEnv "SLURM_CONF=$CONF" "TMUX_TMPDIR=$TMUXDIR"
LogLevel INFO
EOF
    write_file "$SSH_CONFIG" 644 <<EOF
# ssh client config for the sac test cluster (generated by cluster/up.sh).
# Use: ssh -F $SSH_CONFIG $HOST_ALIAS
Host $HOST_ALIAS
    HostName 127.0.0.1
    Port $SSHD_PORT
    User $CLUSTER_USER
    IdentityFile "$SSHDIR/id_ed25519"
    IdentitiesOnly yes
    UserKnownHostsFile "$D/known_hosts"
    GlobalKnownHostsFile /dev/null
    StrictHostKeyChecking yes
    UpdateHostKeys no
    BatchMode yes
    ConnectTimeout 5
    LogLevel ERROR
EOF
    write_file "$D/known_hosts" 644 <<EOF
[127.0.0.1]:$SSHD_PORT $(cut -d' ' -f1-2 "$SSHDIR/ssh_host_ed25519_key.pub")
EOF

    # The login user's home: a banner on login shells, as real clusters do.
    write_file "$HOMEDIR/.bash_profile" 644 <<'EOF'
# Login profile of the sac test cluster's user (generated by cluster/up.sh).
# Like many real clusters, greet every login shell on stdout: tools must cope.
echo "Welcome to the sac test cluster (login node sac-login)"
if [ -f "$HOME/.bashrc" ]; then
    . "$HOME/.bashrc"
fi
EOF
    chown "$CLUSTER_USER:" "$HOMEDIR/.bash_profile"

    write_file "$D/env.sh" 644 <<EOF
# Environment of the sac test cluster (generated by cluster/up.sh).
# Source it: . $D/env.sh
export SAC_TESTCLUSTER_DIR=$(q "$D")
export SLURM_CONF=$(q "$CONF")
export SAC_SSH=$(q "ssh -F $(q "$SSH_CONFIG")")
export SAC_TEST_HOST=$HOST_ALIAS
export SAC_TEST_USER=$(q "$CLUSTER_USER")
export SAC_TEST_HOME=$(q "$HOMEDIR")
export SAC_TESTCLUSTER_WORK=$(q "$WORKDIR")
export TMUX_TMPDIR=$(q "$TMUXDIR")
export SAC_TESTCLUSTER_MUNGED_LOG=$(q "$(logfile_of munged)")
export SAC_TESTCLUSTER_SLURMCTLD_LOG=$(q "$(logfile_of slurmctld)")
export SAC_TESTCLUSTER_SLURMD_N1_LOG=$(q "$(logfile_of slurmd-n1)")
export SAC_TESTCLUSTER_SLURMD_N2_LOG=$(q "$(logfile_of slurmd-n2)")
export SAC_TESTCLUSTER_SSHD_LOG=$(q "$(logfile_of sshd)")
EOF
}

# --- daemons ------------------------------------------------------------------

# start NAME CMD...: start the daemon NAME (which forks into the background)
# with a clean environment and no inherited stdio.
start() {
    local name=$1
    shift
    local out=$LOGDIR/$name.stdout
    if ! env -i PATH="$DAEMON_PATH" LANG=C.UTF-8 "$@" </dev/null >"$out" 2>&1 9>&-; then
        cat "$out" >&2
        die_with_logs "$name did not start" "$name"
    fi
}

# wait_pid NAME: wait until NAME's pid file names a live process.
wait_pid() {
    poll "$START_TIMEOUT" "$1 to write its pid file" daemon_alive "$1" -- "$1"
}

started_slurmctld=0
started_slurmds=0

start_daemons() {
    if ! daemon_alive munged; then
        rm -f "$MUNGE_SOCKET" "$MUNGE_SOCKET.lock" "$(pidfile_of munged)"
        start munged munged --key-file="$D/munge/munge.key" --socket="$MUNGE_SOCKET" \
            --pid-file="$(pidfile_of munged)" --log-file="$(logfile_of munged)" \
            --seed-file="$D/munge/munged.seed"
        wait_pid munged
    fi
    if ! daemon_alive slurmctld; then
        start slurmctld slurmctld -f "$CONF" -i
        started_slurmctld=1
    fi
    local node
    for node in "${NODES[@]}"; do
        if ! daemon_alive "slurmd-$node"; then
            start "slurmd-$node" slurmd -f "$CONF" -N "$node"
            started_slurmds=$((started_slurmds + 1))
        fi
    done
    if ! daemon_alive sshd; then
        start sshd /usr/sbin/sshd -f "$SSHDIR/sshd_config" -E "$(logfile_of sshd)"
    fi
    local name
    for name in "${DAEMONS[@]}"; do
        wait_pid "$name"
    done
}

# Jobs left in the saved state by a cluster that was not shut down cleanly
# cannot still be running when every daemon was started afresh: drop them.
cancel_leftover_jobs() {
    ((started_slurmctld && started_slurmds == ${#NODES[@]})) || return 0
    local ids
    ids=$(SLURM_CONF=$CONF squeue -h -o %A 2>/dev/null | tr '\n' ' ') || return 0
    if [[ -n ${ids// /} ]]; then
        say "cancelling jobs left over from an earlier run: $ids"
        # shellcheck disable=SC2086
        SLURM_CONF=$CONF scancel $ids || true
    fi
}

# --- main -----------------------------------------------------------------------

main() {
    ensure_packages
    [[ $EUID -eq 0 ]] || die "must run as root (slurmd needs cgroups; the login node needs a local user)"
    mkdir -p "$D"
    chmod 755 "$D"
    # One up.sh or down.sh at a time (pytest-xdist workers may all call it).
    exec 9>"$D/.lock"
    flock -w 120 9 || die "another cluster/up.sh or down.sh holds $D/.lock"
    local fingerprint
    fingerprint=$(cat "$HERE/up.sh" "$HERE/lib.sh" | sha256sum | cut -d' ' -f1)
    if healthy; then
        if [[ $(cat "$RUN/fingerprint" 2>/dev/null) == "$fingerprint" ]]; then
            say "already up ($D); . $D/env.sh"
            return 0
        fi
        # Started by another version of up.sh: its configuration may differ
        # (nodes, partitions, GRES), and slurmctld and slurmd read it at start.
        say "the running cluster was started by another version of up.sh: restarting it"
        flock -u 9
        bash "$HERE/down.sh" || die "cluster/down.sh failed; the cluster could not be restarted"
        flock -w 120 9 || die "another cluster/up.sh or down.sh holds $D/.lock"
    fi
    local t0=$EPOCHREALTIME
    ensure_user
    make_dirs
    make_keys
    choose_ports
    write_configs
    start_daemons
    poll "$START_TIMEOUT" "nodes n1 and n2 to be idle (sinfo)" nodes_ready_or_die \
        -- slurmctld slurmd-n1 slurmd-n2
    poll "$START_TIMEOUT" "ssh -F $SSH_CONFIG $HOST_ALIAS true" ssh_ready -- sshd
    cancel_leftover_jobs
    echo "$fingerprint" >"$RUN/fingerprint"
    local took
    took=$(python3 -c 'import sys; print("%.1f" % (float(sys.argv[2]) - float(sys.argv[1])))' "$t0" "$EPOCHREALTIME")
    say "up in ${took}s: slurmctld :$SLURMCTLD_PORT, n1 :$SLURMD_N1_PORT, n2 :$SLURMD_N2_PORT, sshd 127.0.0.1:$SSHD_PORT"
    say ". $D/env.sh  # then: \$SAC_SSH \$SAC_TEST_HOST squeue"
}

main "$@"
