#!/usr/bin/env bash
# Show the local test cluster: its daemons (pid, alive or not), sinfo and
# squeue. Exit 1 when the cluster is not (completely) up.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$HERE/lib.sh"

up=1
echo "test cluster in $D"
for name in "${DAEMONS[@]}"; do
    pid=$(pid_of "$name")
    if proc_alive "$pid" "$(comm_of "$name")"; then
        state=alive
    else
        state=down
        up=0
    fi
    printf '  %-10s pid %-8s %s\n' "$name" "${pid:--}" "$state"
done

if [[ -f $CONF ]] && daemon_alive slurmctld; then
    export SLURM_CONF=$CONF
    echo
    timeout 10 sinfo || up=0
    echo
    timeout 10 squeue || up=0
    if ! timeout 10 sinfo -h -N -o '%N %t' | grep -Eq '^n1 (idle|mix|alloc|comp)$' ||
        ! timeout 10 sinfo -h -N -o '%N %t' | grep -Eq '^n2 (idle|mix|alloc|comp)$'; then
        echo "a node is not up" >&2
        up=0
    fi
fi
if [[ -f $SSH_CONFIG ]] && daemon_alive sshd; then
    if timeout 10 ssh -F "$SSH_CONFIG" "$HOST_ALIAS" true </dev/null >/dev/null 2>&1; then
        echo
        echo "ssh -F $SSH_CONFIG $HOST_ALIAS: ok"
    else
        echo "ssh -F $SSH_CONFIG $HOST_ALIAS: failed" >&2
        up=0
    fi
fi

if ((up)); then
    echo
    echo "up; . $D/env.sh to use it"
    exit 0
fi
echo
echo "the test cluster is not up (cluster/up.sh starts it)" >&2
exit 1
