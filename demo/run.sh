#!/usr/bin/env bash
# make demo: the whole mission on the local test cluster, through its sshd
# login node, as a user would type it. Every step prints its command and output.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
run() {
  printf '\033[36m$ %s\033[0m\n' "$*"
  "$@"
}
deadline_wait() { # SECONDS DESCRIPTION COMMAND...: poll with a deadline
  local limit=$1 what=$2 end=$((SECONDS + $1))
  shift 2
  until "$@" >/dev/null 2>&1; do
    if ((SECONDS >= end)); then echo "demo: timed out after ${limit}s waiting for $what" >&2; exit 1; fi
    sleep 0.5
  done
}

was_up=0
bash cluster/status.sh >/dev/null 2>&1 && was_up=1
bash cluster/up.sh
# shellcheck source=/dev/null
. "${SAC_TESTCLUSTER_DIR:-/tmp/sac-testcluster}/env.sh"

work=$(mktemp -d "${TMPDIR:-/tmp}/sac-demo.XXXXXX")
export SAC_HOME=$work/sac-home
cleanup() {
  sac agent stop --all >/dev/null 2>&1 || true
  sac reservations release demo-pool >/dev/null 2>&1 || true
  rm -rf "$work"
  if ((was_up == 0)); then bash cluster/down.sh >/dev/null 2>&1 || true; fi
}
trap cleanup EXIT
remote() { $SAC_SSH "$SAC_TEST_HOST" "$@"; }
names=sac-demo-head,sac-res-demo-pool

# The demo agent lives in the login user's home on the cluster.
install -D -m 755 examples/bin/demo-agent "$SAC_TEST_HOME/bin/demo-agent"
chown -R "$SAC_TEST_USER" "$SAC_TEST_HOME/bin"
# shellcheck disable=SC2088  # ~ must reach the cluster unexpanded
command='~/bin/demo-agent'
if [[ ${SAC_DEMO_CLAUDE:-0} == 1 ]]; then command=claude; fi

step "1. Validate and compile the seed's YAMLs (no cluster needed for this)"
run sacgen validate examples
run sacgen build examples -o "$work/build"
run ls "$work/build" "$work/build/head-spartan"

step "2. Agent YAMLs for the local cluster (discovered under \$SAC_HOME/agents)"
mkdir -p "$SAC_HOME/agents"
write_agent() { # NAME YAML-SPEC-BODY
  mkdir -p "$SAC_HOME/agents/$1"
  printf 'apiVersion: scitex-agent-container/v3\nkind: Agent\nspec:\n%s' "$2" >"$SAC_HOME/agents/$1/$1.yaml"
}
write_agent demo-head "  runtime: slurm
  model: opus
  workdir: ~/demo/head
  claude:
    command: $command
    flags: [--dangerously-skip-permissions]
  slurm:
    host: $SAC_TEST_HOST
    partition: debug
    cpus_per_task: 1
    time_limit: \"30\"
    resubmit_before: 300
"
for t in dev-helper doc-builder test-runner; do
  write_agent "$t" "  runtime: slurm-tenant
  model: sonnet
  workdir: ~/demo/$t
  claude:
    command: $command
    flags: [--dangerously-skip-permissions]
  slurm:
    reservation: demo-pool
"
done
run cat "$SAC_HOME/agents/dev-helper/dev-helper.yaml"

step "3. Book a persistent reservation whose tmux server is the job's main process"
run scitex-hpc reservations book demo-pool --host "$SAC_TEST_HOST" --partition debug \
  --cpus 2 --time 30 --tmux-server sac --persistent --resubmit-before 300

step "4. Start everything: one ssh connection per host"
run sac agent start --all
deadline_wait 30 "demo-head to run" bash -c 'sac agent status demo-head --json | grep -q "\"session_alive\": true"'
run sac list

step "5. What an agent shows"
deadline_wait 15 "the banner" bash -c 'sac agent logs dev-helper -n 5 | grep -q "demo agent"'
run sac agent logs dev-helper -n 5
run sac agent status demo-head

step "6. Walltime: SLURM's USR1 (sent by hand here) makes each job submit exactly one successor"
res_job=$(sac reservations get demo-pool --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["job_id"])')
head_job=$(sac agent status demo-head --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["job_id"])')
run remote scancel --signal=USR1 --batch "$res_job"
run remote scancel --signal=USR1 --batch "$head_job"
deadline_wait 15 "successors" bash -c "[ \$($SAC_SSH $SAC_TEST_HOST squeue -h -n $names -t PENDING -o %i | wc -l) -ge 2 ]"
run remote squeue -n "$names" -O JobID:8,Name:20,State:10,Dependency:28
echo "(ending the first jobs, as their walltime would)"
run remote scancel "$res_job" "$head_job"
deadline_wait 40 "the reservation's successor to relaunch its tenants" \
  bash -c 'sac reservations get demo-pool --json | grep -q "\"test-runner\"" && ! sac reservations get demo-pool --json | grep -q "\"job_id\": \"'"$res_job"'\""'
deadline_wait 40 "demo-head's successor" \
  bash -c 'sac agent status demo-head --json | grep -q "\"session_alive\": true" && ! sac agent status demo-head --json | grep -q "\"job_id\": \"'"$head_job"'\""'
run scitex-hpc reservations refresh demo-pool
run sac list

step "7. Talk to agents without attaching: send, the ACTIVITY column, wait"
run sac agent send dev-helper "hello from sac agent send"
deadline_wait 15 "the answer" bash -c 'sac agent logs dev-helper -n 5 | grep -q "you said: hello from sac agent send"'
run sac agent logs dev-helper -n 5
if sac agent status dev-helper --json | grep -q '"activity": "'; then
  # The agent's hooks record what it does: wait for the answer to a message.
  run sac agent send dev-helper "and a second message"
  run sac agent wait dev-helper --until idle --timeout 60
fi
run sac list
run sac agent send test-runner quit
run sac agent wait test-runner --until ended --timeout 60

step "8. Stop everything, release the reservation"
run sac agent stop --all
run sac reservations release demo-pool
deadline_wait 20 "an empty queue" bash -c "[ -z \"\$($SAC_SSH $SAC_TEST_HOST squeue -h -n $names)\" ]"
run remote squeue -n "$names"
step "Done: the demo ran on real SLURM daemons through a real sshd."
