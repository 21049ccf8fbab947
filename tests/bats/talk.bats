#!/usr/bin/env bats
# send.sh (both runtimes) and the activity that status.sh reads, with stub SLURM
# commands; srun runs its command here, next to the real tmux. The agent in the
# pane is the stub Claude Code of the integration tests: it asks for bracketed
# paste and reads the terminal raw, and keeps each message it takes in its
# transcript, which is how these tests see what arrived.
# SC2016/SC1003: hostile values and jq programs are single-quoted on purpose.
# shellcheck disable=SC2016,SC1003

load helpers

STUB_CLAUDE="$SAC_REPO/tests/integration/assets/claude"

setup() {
  sac_setup
  spec=$(jq -n '{apiVersion: "scitex-agent-container/v3", kind: "Agent",
      spec: {runtime: "slurm", model: "sonnet", claude: {command: "claude"}}}')
  sac_build tk "$spec"
  SLURM_BUILT=$BUILT
  spec=$(jq -n '{apiVersion: "scitex-agent-container/v3", kind: "Agent",
      spec: {runtime: "slurm-tenant", model: "sonnet", claude: {command: "claude"}, slurm: {reservation: "pool1"}}}')
  sac_build tt "$spec"
  TENANT_BUILT=$BUILT
  DIR="$SAC_REMOTE_HOME/agents/tk"
  mkdir -p "$DIR" "$SAC_REMOTE_HOME/agents/tt"
  export CLAUDE_CONFIG_DIR="$SAC_T/claude" STUB_CLAUDE_LOG="$SAC_T/claude.log"
}
teardown() { sac_teardown; }

# The stub Claude Code in a session as session.sh runs it: a shell whose child is the agent.
claude_session() {  # SOCKET SESSION
  tmux -L "$1" new-session -d -s "$2" -x 100 -y 30 \
    "CLAUDE_CONFIG_DIR='$CLAUDE_CONFIG_DIR' STUB_CLAUDE_LOG='$STUB_CLAUDE_LOG' python3 '$STUB_CLAUDE' --model m; :" 3>&-
  wait_for 10 bash -c "tmux -L '$1' capture-pane -p -t '=$2:' | grep -q 'stub claude'"
}

# The messages the stub took, as JSON strings, one a line.
messages() { cat "$CLAUDE_CONFIG_DIR"/stub-projects/*/*.jsonl 2>/dev/null | jq -c 'select(.type == "user") | .text'; }
took() { [[ $(messages | wc -l) -ge $1 ]]; }

HOSTILE=$'it\'s "quoted" $(touch PWNED) `id` back\\slash\n-- second line\ttab\n  unicode ✓ é ☃\n$HOME ~ ;|&<> *'

@test "send.sh: a hostile text of several lines arrives byte for byte as ONE message, then Enter; sent recorded" {
  squeue_add sac-tk 101 RUNNING node1
  claude_session sac-tk sac-tk
  run bash "$SLURM_BUILT/send.sh" 1 "$HOSTILE"
  [ "$status" -eq 0 ]
  result_json
  jcheck '.ok == true and .job_id == "101" and .node == "node1" and (.sent_epoch | type) == "number"'
  wait_for 10 took 1
  assert_eq "$(messages)" "$(jq -cn --arg t "$HOSTILE" '$t')"
  [[ $(<"$DIR/sent") == "$(jq -r .sent_epoch <<<"$RESULT")" ]]
  [ ! -e PWNED ] && [ ! -e "$HOME/PWNED" ]
  # The text never went into a command line: srun's arguments do not hold it.
  run grep -q "second line" "$STUB/srun.log"
  [ "$status" -eq 1 ]
  # No buffer is left behind in the agent's tmux server.
  [ -z "$(tmux -L sac-tk list-buffers 2>/dev/null)" ]
}

@test "send.sh: a leading dash, and --no-enter types without submitting; then a key submits" {
  squeue_add sac-tk 101 RUNNING node1
  claude_session sac-tk sac-tk
  run bash "$SLURM_BUILT/send.sh" 0 "-n not an option"
  [ "$status" -eq 0 ]
  wait_for 5 bash -c "tmux -L sac-tk capture-pane -p -t =sac-tk: | grep -qF -- '-n not an option'"
  run took 1
  [ "$status" -ne 0 ]
  run bash "$SLURM_BUILT/send.sh" 0 "" Enter
  [ "$status" -eq 0 ]
  wait_for 10 took 1
  assert_eq "$(messages)" '"-n not an option"'
}

@test "send.sh --key Escape interrupts a turn (keys by tmux's names)" {
  squeue_add sac-tk 101 RUNNING node1
  claude_session sac-tk sac-tk
  run bash "$SLURM_BUILT/send.sh" 1 "/work 300"
  [ "$status" -eq 0 ]
  wait_for 10 bash -c "tmux -L sac-tk capture-pane -p -t =sac-tk: | grep -q 'working 300'"
  run bash "$SLURM_BUILT/send.sh" 1 "" Escape
  [ "$status" -eq 0 ]
  wait_for 10 bash -c "tmux -L sac-tk capture-pane -p -t =sac-tk: | grep -q 'Interrupted by user'"
}

@test "send.sh to an agent with no running job: exit 1, not_running, no step" {
  squeue_add sac-tk 101 PENDING ""
  run bash "$SLURM_BUILT/send.sh" 1 "hello"
  [ "$status" -eq 1 ]
  result_json
  jcheck '.ok == false and .not_running == true and (.error | contains("not running"))'
  assert_eq "$(calls srun)" 0
  [ ! -e "$DIR/sent" ]
}

@test "send.sh when squeue fails: exit 1, could not ask (never 'not running')" {
  : >"$STUB/squeue.fail"
  run bash "$SLURM_BUILT/send.sh" 1 "hello"
  [ "$status" -eq 1 ]
  result_json
  jcheck '.ok == false and .not_running == false and (.error | contains("could not ask"))'
}

@test "send.sh never types into a pane without an agent: no session, a bare program, an agent whose hooks say it ended" {
  squeue_add sac-tk 101 RUNNING node1
  run bash "$SLURM_BUILT/send.sh" 1 "hello"
  [ "$status" -eq 1 ]
  result_json
  jcheck '.not_running == true'
  # The pane's own program has no child: a shell (or session.sh) with no agent.
  # (A session beside it keeps the server up when that one is killed.)
  tmux -L sac-tk new-session -d -s _keep "exec sleep 300" 3>&-
  tmux -L sac-tk new-session -d -s sac-tk -x 80 -y 20 "exec sleep 300" 3>&-
  run bash "$SLURM_BUILT/send.sh" 1 "hello"
  [ "$status" -eq 1 ]
  result_json
  jcheck '.not_running == true and (.error | contains("runs no agent"))'
  tmux -L sac-tk kill-session -t =sac-tk
  claude_session sac-tk sac-tk
  printf 'ended %s\n' "$(date +%s)" >"$DIR/activity"
  run bash "$SLURM_BUILT/send.sh" 1 "hello"
  [ "$status" -eq 1 ]
  result_json
  jcheck '.not_running == true and (.error | contains("ended"))'
  run took 1
  [ "$status" -ne 0 ]
  [ ! -e "$DIR/sent" ]
}

@test "send.sh records sent later than the second of the last state, so that state is not taken for the answer" {
  squeue_add sac-tk 101 RUNNING node1
  claude_session sac-tk sac-tk
  now=$(date +%s)
  printf 'idle %s\n' "$now" >"$DIR/activity"
  run bash "$SLURM_BUILT/send.sh" 1 "hi"
  [ "$status" -eq 0 ]
  (($(<"$DIR/sent") > now))
}

@test "status.sh reads activity and sent from the agent's folder, without a step of its own" {
  squeue_add sac-tk 101 RUNNING node1
  claude_session sac-tk sac-tk
  printf 'waiting 1700000000\n' >"$DIR/activity"
  printf '1699999990\n' >"$DIR/sent"
  run bash "$SLURM_BUILT/status.sh"
  [ "$status" -eq 0 ]
  result_json
  jcheck '.activity == "waiting" and .activity_epoch == 1700000000 and .sent_epoch == 1699999990'
  jcheck '.session_alive == true'
  assert_eq "$(grep -c -- --jobid= "$STUB/srun.log")" 1
  # Malformed files are "not known", never an error.
  printf 'sleeping 12\n' >"$DIR/activity"
  printf 'x\n' >"$DIR/sent"
  run bash "$SLURM_BUILT/status.sh"
  result_json
  jcheck '.activity == null and .activity_epoch == null and .sent_epoch == null'
  rm "$DIR/activity" "$DIR/sent"
  run bash "$SLURM_BUILT/status.sh"
  result_json
  jcheck '.activity == null and .sent_epoch == null'
}

@test "tenant status.sh reads the activity too" {
  mkdir -p "$SAC_REMOTE_HOME/reservations/pool1"
  printf 'sacpool\n' >"$SAC_REMOTE_HOME/reservations/pool1/tmux_server"
  squeue_add sac-res-pool1 301 RUNNING node7
  printf 'working 1700000001\n' >"$SAC_REMOTE_HOME/agents/tt/activity"
  run bash "$TENANT_BUILT/status.sh"
  result_json
  jcheck '.activity == "working" and .activity_epoch == 1700000001 and .sent_epoch == null'
}

@test "tenant send.sh: straight into the job sac last saw (no squeue), else finds it; not running: exit 1" {
  mkdir -p "$SAC_REMOTE_HOME/reservations/pool1"
  printf 'sacpool\n' >"$SAC_REMOTE_HOME/reservations/pool1/tmux_server"
  tmux -L sacpool new-session -d -s _root 'sleep 300' 3>&-
  squeue_add sac-res-pool1 301 RUNNING node7
  run bash "$TENANT_BUILT/send.sh" 1 301 node7 "hello tenant"
  [ "$status" -eq 1 ]
  result_json
  jcheck '.not_running == true and .reservation == "pool1"'
  claude_session sacpool sac-tt
  : >"$STUB/squeue.log"
  run bash "$TENANT_BUILT/send.sh" 1 301 node7 "$HOSTILE"
  [ "$status" -eq 0 ]
  result_json
  jcheck '.ok == true and .job_id == "301" and .node == "node7"'
  assert_eq "$(calls squeue)" 0
  wait_for 10 took 1
  assert_eq "$(messages)" "$(jq -cn --arg t "$HOSTILE" '$t')"
  # A stale hint (an old job): srun refuses, squeue finds today's job.
  run bash "$TENANT_BUILT/send.sh" 1 299 node7 "second"
  [ "$status" -eq 0 ]
  result_json
  jcheck '.job_id == "301"'
  wait_for 10 took 2
}
