#!/usr/bin/env bats
# Runtime slurm-tenant: start.sh/stop.sh/status.sh create and kill a session on
# the reservation's tmux server through srun (here: run locally, real tmux).
# SC2016/SC1003: hostile values and jq programs are single-quoted on purpose;
# SC2030/SC2031: each test exports its own SLURM_* variables on purpose.
# shellcheck disable=SC2016,SC1003,SC2030,SC2031

load helpers

TENANT_FLAGS=(
  --dangerously-skip-permissions
  "it's \"quoted\" \$(touch pwned) \`touch pwned\`"
  $'new\nline'
  ''
  '*'
  '-x'
  'héllo ✓'
)

setup() {
  sac_setup
  make_agent ten
  flags=$(python3 -c 'import json, sys; print(json.dumps(sys.argv[1:]))' "${TENANT_FLAGS[@]}")
  mkdir -p "$HOME/hooks"
  printf '%s\n' "export HOOK_ONLY='from the hook'" "export OVERRIDDEN='from the hook'" >"$HOME/hooks/tenant hook.sh"
  spec=$(jq -n --arg cmd "$AGENT" --argjson flags "$flags" '{apiVersion: "scitex-agent-container/v3", kind: "Agent",
      spec: {runtime: "slurm-tenant", model: "sonnet 4", restart: {policy: "never"},
             workdir: "~/tenant work",
             env: {OVERRIDDEN: "from spec.env", "SPACEY": " a  b "},
             claude: {command: $cmd, flags: $flags},
             slurm: {reservation: "pool1", hooks: {pre_agent: "~/hooks/tenant hook.sh"}}}}')
  sac_build ten "$spec"
  RESDIR="$SAC_REMOTE_HOME/reservations/pool1"
  DIR="$SAC_REMOTE_HOME/agents/ten"
  SERVER=sacpool
  mkdir -p "$RESDIR/tenants"
}
teardown() { sac_teardown; }

# The reservation as reservation.sbatch leaves it: its tmux server with _root,
# its name recorded, its job RUNNING.
reservation_up() {
  printf '%s\n' "$SERVER" >"$RESDIR/tmux_server"
  tmux -L "$SERVER" new-session -d -s _root 'sleep 300' 3>&-
  squeue_add sac-res-pool1 301 RUNNING node7
}

session_exists() { tmux -L "$SERVER" has-session -t "=sac-ten" 2>/dev/null; }
no_session() { ! session_exists; }

@test "tenant start.sh without the reservation's tmux_server file: the exact error" {
  squeue_add sac-res-pool1 301 RUNNING node7
  run bash "$BUILT/start.sh"
  [ "$status" -eq 1 ]
  result_json
  jcheck '.ok == false and .error == "reservation '"'"'pool1'"'"' was not booked with tmux_server set — re-book with --tmux-server sac"'
  assert_eq "$(calls srun)" 0
}

@test "tenant start.sh creates its session on the reservation's tmux server, argv exact, manifest written; stop.sh kills it and removes the manifest" {
  reservation_up
  run bash "$BUILT/start.sh" 3>&-
  [ "$status" -eq 0 ]
  result_json
  jcheck '.ok == true and .reservation == "pool1" and .job_id == "301" and .node == "node7" and .already == false'
  grep -F -- "--jobid=301 --overlap" "$STUB/srun.log"
  grep -F -- "-w node7" "$STUB/srun.log"
  session_exists
  wait_for 5 agent_started ten
  assert_argv ten --model "sonnet 4" "${TENANT_FLAGS[@]}"
  assert_eq "$(<"$STUB/agent-ten.pwd")" "$HOME/tenant work"
  assert_env ten HOOK_ONLY 'from the hook'
  assert_env ten OVERRIDDEN 'from spec.env'
  assert_env ten SPACEY ' a  b '
  [ -e "$RESDIR/tenants/ten" ]
  cmp "$BUILT/session.sh" "$DIR/session.sh"
  [ -z "$(find "$SAC_T" -name pwned -print -quit)" ]

  run bash "$BUILT/stop.sh" 3>&-
  [ "$status" -eq 0 ]
  result_json
  jcheck '.ok == true and .killed == true and .reservation == "pool1" and .reservation_state == "RUNNING"'
  no_session
  [ ! -e "$RESDIR/tenants/ten" ]
  wait_for 3 agent_dead ten
  # Once the reservation is gone, the stop says so.
  : >"$STUB/squeue.state"
  run bash "$BUILT/stop.sh" 3>&-
  [ "$status" -eq 0 ]
  result_json
  jcheck '.ok == true and .killed == false and .reservation_state == "ABSENT"'
  # The reservation's server lives on.
  tmux -L "$SERVER" has-session -t =_root
}

@test "tenant start.sh keeps the agent's folder private: 700 when it makes it, and 700 again when it was not" {
  reservation_up
  rmdir "$RESDIR/tenants"
  run bash "$BUILT/start.sh" 3>&-
  [ "$status" -eq 0 ]
  wait_for 5 agent_started ten
  assert_eq "$(stat -c %a "$DIR" "$SAC_REMOTE_HOME/agents" "$RESDIR/tenants" "$DIR/session.sh")" $'700\n700\n700\n600'
  tmux -L "$SERVER" kill-session -t =sac-ten
  chmod 755 "$DIR"
  run bash "$BUILT/start.sh" 3>&-
  [ "$status" -eq 0 ]
  assert_eq "$(stat -c %a "$DIR")" 700
}

@test "sac agent start --all (a launch batch): one squeue and one srun for two tenants, nothing left behind" {
  reservation_up
  first=$BUILT
  make_agent two
  sac_build two "$(jq -n --arg cmd "$AGENT" '{apiVersion: "scitex-agent-container/v3", kind: "Agent",
      spec: {runtime: "slurm-tenant", model: "sonnet", restart: {policy: "never"}, claude: {command: $cmd}, slurm: {reservation: "pool1"}}}')"
  "$(dirname "$(command -v "$SACGEN")")/python3" -c \
    'from sacgen.compile.render import render_launch_queue; print(render_launch_queue(), end="")' >"$SAC_T/launch-queue.sh"
  export SAC_LAUNCH_BATCH=b1
  for built in "$first" "$BUILT"; do
    run bash "$built/start.sh"
    [ "$status" -eq 0 ]
    result_json
    jcheck '.ok == true and .queued == true'
  done
  assert_eq "$(calls squeue)" 1
  assert_eq "$(calls srun)" 0
  run bash "$SAC_T/launch-queue.sh" 3>&-
  [ "$status" -eq 0 ]
  assert_eq "$(grep -c '^@sac-result {"ok":true,"name":"\(ten\|two\)","reservation":"pool1","job_id":"301","node":"node7","already":false}$' <<<"$output")" 2
  assert_eq "$(grep -c -- '^--jobid=301' "$STUB/srun.log")" 1
  assert_eq "$(calls squeue)" 1
  wait_for 5 agent_started ten
  wait_for 5 agent_started two
  run compgen -G "$SAC_REMOTE_HOME/.*b1*"
  assert_eq "$output" ""
}

@test "tenant start.sh twice: the second keeps the live session (already true), one agent" {
  reservation_up
  run bash "$BUILT/start.sh" 3>&-
  [ "$status" -eq 0 ]
  wait_for 5 agent_started ten
  run bash "$BUILT/start.sh" 3>&-
  [ "$status" -eq 0 ]
  result_json
  jcheck '.ok == true and .already == true'
  assert_eq "$(wc -l <"$STUB/agent-ten.starts")" 1
}

@test "tenant start.sh when the reservation's tmux server is not running: refuses, starts no server; still starting (no running.<job>): says so" {
  printf '%s\n' "$SERVER" >"$RESDIR/tmux_server"
  squeue_add sac-res-pool1 301 RUNNING node7
  run bash "$BUILT/start.sh" 3>&-
  [ "$status" -eq 1 ]
  result_json
  jcheck '.ok == false and .error == "reservation '"'"'pool1'"'"' (job 301) is still starting: its tmux server '"'"'sacpool'"'"' is not up yet (the hold body runs first); try again in a moment"'
  [ ! -e "$RESDIR/tenants/ten" ]
  echo "could not start tmux server sacpool on node7" >"$RESDIR/failed.301"
  run bash "$BUILT/start.sh" 3>&-
  [ "$status" -eq 1 ]
  result_json
  jcheck '.ok == false and (.error | contains("has no tmux server '"'"'sacpool'"'"' running; re-book with --tmux-server sacpool"))'
  rm "$RESDIR/failed.301"
  hostname >"$RESDIR/running.301"
  run bash "$BUILT/start.sh" 3>&-
  [ "$status" -eq 1 ]
  result_json
  jcheck '.ok == false and (.error | contains("has no tmux server '"'"'sacpool'"'"' running; re-book with --tmux-server sacpool"))'
  refute tmux -L "$SERVER" list-sessions 2>/dev/null
  [ ! -e "$RESDIR/tenants/ten" ]
}

@test "tenant start.sh when the reservation is still pending or gone: clear errors, no srun" {
  printf '%s\n' "$SERVER" >"$RESDIR/tmux_server"
  run bash "$BUILT/start.sh"
  [ "$status" -eq 1 ]
  result_json
  jcheck '.ok == false and (.error | contains("has no live job"))'
  squeue_add sac-res-pool1 301 PENDING ""
  run bash "$BUILT/start.sh"
  [ "$status" -eq 1 ]
  result_json
  jcheck '.ok == false and (.error | contains("not running yet"))'
  assert_eq "$(calls srun)" 0
}

@test "tenant start.sh when squeue fails: the error says so" {
  printf '%s\n' "$SERVER" >"$RESDIR/tmux_server"
  : >"$STUB/squeue.fail"
  run bash "$BUILT/start.sh"
  [ "$status" -eq 1 ]
  result_json
  jcheck '.ok == false and (.error | contains("could not ask squeue"))'
}

@test "tenant status.sh: RUNNING with the session alive; UNKNOWN (not ABSENT) when squeue fails" {
  reservation_up
  run bash "$BUILT/start.sh" 3>&-
  [ "$status" -eq 0 ]
  wait_for 5 agent_started ten
  run bash "$BUILT/status.sh"
  [ "$status" -eq 0 ]
  result_json
  jcheck '.state == "RUNNING" and .session_alive == true and .job_id == "301" and .tmux_server == "sacpool" and .pane_command != null'
  # The session gone, the server still up: not alive (tmux's display-message
  # says nothing, and exits 0, about a session that is not there).
  run bash "$BUILT/stop.sh"
  [ "$status" -eq 0 ]
  for hint in "" "301 node7"; do
    # shellcheck disable=SC2086
    run bash "$BUILT/status.sh" $hint
    [ "$status" -eq 0 ]
    result_json
    jcheck '.state == "RUNNING" and .session_alive == false and .pane_command == null and .error == null'
  done
  : >"$STUB/squeue.fail"
  run bash "$BUILT/status.sh"
  [ "$status" -eq 1 ]
  result_json
  jcheck '.state == "UNKNOWN" and .session_alive == null'
}

@test "tenant status.sh JOB NODE: one step straight into the job sac knows, no squeue; a job that moved on or waits: squeue finds today's" {
  reservation_up
  run bash "$BUILT/start.sh" 3>&-
  [ "$status" -eq 0 ]
  wait_for 5 agent_started ten
  : >"$STUB/squeue.log"
  : >"$STUB/srun.log"
  run bash "$BUILT/status.sh" 301 node7
  [ "$status" -eq 0 ]
  result_json
  jcheck '.state == "RUNNING" and .job_id == "301" and .node == "node7" and .session_alive == true and .node_state == "mixed" and .error == null'
  assert_eq "$(calls squeue)" 0
  assert_eq "$(grep -c -- '^--jobid=' "$STUB/srun.log")" 1
  # Gone (299), on another node, or pending (302, the chain's next): srun
  # refuses, squeue answers, the step goes into job 301.
  squeue_add sac-res-pool1 302 PENDING
  for hint in "299 node7" "301 node8" "302 node7"; do
    : >"$STUB/squeue.log"
    : >"$STUB/srun.log"
    read -r job node <<<"$hint"
    run bash "$BUILT/status.sh" "$job" "$node"
    [ "$status" -eq 0 ]
    result_json
    jcheck '.state == "RUNNING" and .job_id == "301" and .node == "node7" and .session_alive == true and .node_state == "mixed" and .error == null'
    assert_eq "$(calls squeue)" 1
    assert_eq "$(grep -c -- '^--jobid=' "$STUB/srun.log")" 2
  done
  # Suspended: srun would wait for ever; the step into the job sac knows waits 2 s.
  : >"$STUB/squeue.state"
  squeue_add sac-res-pool1 301 SUSPENDED node7
  : >"$STUB/srun.log"
  run timeout 60 bash "$BUILT/status.sh" 301 node7
  [ "$status" -eq 0 ]
  result_json
  jcheck '.state == "SUSPENDED" and .job_id == "301" and .session_alive == null and (.error | contains("is SUSPENDED: its sessions cannot be seen until the job resumes"))'
  assert_eq "$(grep -c -- '^--jobid=301 .*--immediate=2 ' "$STUB/srun.log")" 1
  # The reservation gone: squeue says so.
  : >"$STUB/squeue.state"
  run bash "$BUILT/status.sh" 301 node7
  result_json
  jcheck '.state == "ABSENT" and .session_alive == false and .error == null'
}

@test "tenant start.sh JOB NODE: the launch step goes straight into the job sac knows; else squeue, and its errors" {
  reservation_up
  run bash "$BUILT/start.sh" 301 node7 3>&-
  [ "$status" -eq 0 ]
  result_json
  jcheck '.ok == true and .already == false and .job_id == "301" and .node == "node7"'
  assert_eq "$(calls squeue)" 0
  wait_for 5 agent_started ten
  run bash "$BUILT/start.sh" 299 node7 3>&-
  [ "$status" -eq 0 ]
  result_json
  jcheck '.ok == true and .already == true and .job_id == "301"'
  assert_eq "$(calls squeue)" 1
  tmux -L "$SERVER" kill-session -t =sac-ten
  # Pending now (requeued: same id): srun refuses, squeue tells why.
  : >"$STUB/squeue.state"
  squeue_add sac-res-pool1 301 PENDING
  run bash "$BUILT/start.sh" 301 node7 3>&-
  [ "$status" -eq 1 ]
  result_json
  jcheck '.ok == false and .error == "reservation '"'"'pool1'"'"' is not running yet (job 301 PENDING); try again when it runs"'
  assert_eq "$(calls squeue)" 2
  # Suspended: the step into the job sac knows waits 2 s, not for ever.
  : >"$STUB/squeue.state"
  squeue_add sac-res-pool1 301 SUSPENDED node7
  run timeout 60 bash "$BUILT/start.sh" 301 node7 3>&-
  [ "$status" -eq 1 ]
  result_json
  jcheck '.ok == false and .error == "reservation '"'"'pool1'"'"' is suspended (job 301 SUSPENDED); try again when it resumes"'
}

@test "tenant logs.sh LINES JOB NODE: the pane through one step into the job sac knows; else squeue's job; else agent.log" {
  reservation_up
  run bash "$BUILT/start.sh" 3>&-
  [ "$status" -eq 0 ]
  wait_for 5 agent_started ten
  tmux -L "$SERVER" send-keys -t =sac-ten: 'echo pane-line-one' 2>/dev/null || true
  : >"$STUB/squeue.log"
  : >"$STUB/srun.log"
  run bash "$BUILT/logs.sh" 20 301 node7
  [ "$status" -eq 0 ]
  result_json
  jcheck '.ok == true and .source == "pane"'
  assert_eq "$(calls squeue)" 0
  assert_eq "$(grep -c -- '^--jobid=301 .*--immediate=2 ' "$STUB/srun.log")" 1
  run bash "$BUILT/logs.sh" 20 299 node7
  [ "$status" -eq 0 ]
  result_json
  jcheck '.ok == true and .source == "pane"'
  assert_eq "$(calls squeue)" 1
  # The session gone: its log, after asking the job sac knows and squeue's.
  tmux -L "$SERVER" kill-session -t =sac-ten
  printf 'log line %s\n' 1 2 3 >"$DIR/agent.log"
  : >"$STUB/srun.log"
  run bash "$BUILT/logs.sh" 2 301 node7
  [ "$status" -eq 0 ]
  result_json
  jcheck '.ok == true and .source == "agent-log"'
  assert_eq "$(jq -r .text_b64 <<<"$RESULT" | base64 -d)" $'log line 2\nlog line 3'
  assert_eq "$(grep -c -- '^--jobid=301' "$STUB/srun.log")" 2
}

@test "tenant status.sh asks sinfo about the node while its srun step looks at the pane" {
  reservation_up
  run bash "$BUILT/start.sh" 3>&-
  [ "$status" -eq 0 ]
  wait_for 5 agent_started ten
  # An sinfo that marks its start, and an srun that waits for that mark (5 s at
  # most, then notes that it waited alone): asked after the step, sinfo would
  # find the step over.
  mv "$STUB_BIN/sinfo" "$STUB_BIN/sinfo.real"
  mv "$STUB_BIN/srun" "$STUB_BIN/srun.real"
  printf '#!/usr/bin/env bash\n: >%q\nexec %q "$@"\n' "$STUB/sinfo.started" "$STUB_BIN/sinfo.real" >"$STUB_BIN/sinfo"
  printf '#!/usr/bin/env bash\nfor _ in $(seq 100); do [[ -e %q ]] && exec %q "$@"; sleep 0.05; done\n: >%q\nexec %q "$@"\n' \
    "$STUB/sinfo.started" "$STUB_BIN/srun.real" "$STUB/srun.alone" "$STUB_BIN/srun.real" >"$STUB_BIN/srun"
  chmod +x "$STUB_BIN/sinfo" "$STUB_BIN/srun"
  : >"$STUB/sinfo.log"
  run bash "$BUILT/status.sh"
  [ "$status" -eq 0 ]
  [ ! -e "$STUB/srun.alone" ]
  result_json
  jcheck '.state == "RUNNING" and .session_alive == true and .node_state == "mixed"'
  assert_eq "$(calls sinfo)" 1
}

@test "tenant status.sh in a snapshot batch (sac list): one srun for the batch, the same answers as alone" {
  reservation_up
  run bash "$BUILT/start.sh" 3>&-
  [ "$status" -eq 0 ]
  wait_for 5 agent_started ten
  run bash "$BUILT/status.sh"
  result_json
  alone=$(jq -c "{state, session_alive, pane_command, node_state}" <<<"$RESULT")
  : >"$STUB/srun.log"
  for i in 1 2 3; do
    SAC_SNAPSHOT=b1 run bash "$BUILT/status.sh"
    [ "$status" -eq 0 ]
    result_json
    assert_eq "$(jq -c "{state, session_alive, pane_command, node_state}" <<<"$RESULT")" "$alone"
  done
  assert_eq "$(grep -c -- '^--jobid=' "$STUB/srun.log")" 1
  run bash "$BUILT/stop.sh"
  [ "$status" -eq 0 ]
  SAC_SNAPSHOT=b2 run bash "$BUILT/status.sh"
  result_json
  jcheck '.state == "RUNNING" and .session_alive == false and .pane_command == null'
}

@test "tenant stop.sh in a stop batch (sac agent stop --all): queued, then stop-queue.sh kills every session in one srun" {
  reservation_up
  make_agent ten2
  ten_built=$BUILT
  sac_build ten2 "$(jq -n --arg cmd "$AGENT" '{apiVersion: "scitex-agent-container/v3", kind: "Agent",
      spec: {runtime: "slurm-tenant", model: "m", restart: {policy: "never"}, claude: {command: $cmd}, slurm: {reservation: "pool1"}}}')"
  ten2_built=$BUILT
  run bash "$ten_built/start.sh" 3>&-
  [ "$status" -eq 0 ]
  run bash "$ten2_built/start.sh" 3>&-
  [ "$status" -eq 0 ]
  wait_for 5 agent_started ten
  wait_for 5 agent_started ten2
  "$(dirname "$(command -v "$SACGEN")")/python3" -c 'from sacgen.compile.render import render_stop_queue; print(render_stop_queue(), end="")' \
    >"$SAC_T/stop-queue.sh"
  : >"$STUB/srun.log"
  export SAC_STOP_BATCH=b7
  for b in "$ten_built" "$ten2_built"; do
    run bash "$b/stop.sh"
    [ "$status" -eq 0 ]
    result_json
    jcheck '.ok == true and .queued == true'
  done
  session_exists
  [ -e "$RESDIR/tenants/ten" ]
  [ -e "$RESDIR/tenants/ten2" ]
  run bash "$SAC_T/stop-queue.sh"
  [ "$status" -eq 0 ]
  [ ! -e "$RESDIR/tenants/ten" ]
  [ ! -e "$RESDIR/tenants/ten2" ]
  assert_eq "$(grep -c -- '^--jobid=301 ' "$STUB/srun.log")" 1
  assert_eq "$(grep -c '^@sac-result ' <<<"$output")" 2
  grep -F '@sac-result {"ok":true,"name":"ten","reservation":"pool1","killed":true}' <<<"$output"
  grep -F '@sac-result {"ok":true,"name":"ten2","reservation":"pool1","killed":true}' <<<"$output"
  no_session
  ! tmux -L "$SERVER" has-session -t =sac-ten2 2>/dev/null
  [ ! -e "$SAC_REMOTE_HOME/.stop-b7" ]
}

@test "tenant stop.sh whose kill step fails (alone and in a stop batch): the tenant goes back on the manifest, its session lives on" {
  reservation_up
  run bash "$BUILT/start.sh" 3>&-
  [ "$status" -eq 0 ]
  wait_for 5 agent_started ten
  "$(dirname "$(command -v "$SACGEN")")/python3" -c 'from sacgen.compile.render import render_stop_queue; print(render_stop_queue(), end="")' \
    >"$SAC_T/stop-queue.sh"
  : >"$STUB/srun.fail"
  run bash "$BUILT/stop.sh" 3>&-
  [ "$status" -eq 1 ]
  result_json
  jcheck '.ok == false and (.error | startswith("could not stop session sac-ten in job 301: "))'
  [ -e "$RESDIR/tenants/ten" ]
  SAC_STOP_BATCH=b9 run bash "$BUILT/stop.sh" 3>&-
  [ "$status" -eq 0 ]
  SAC_STOP_BATCH=b9 run bash "$SAC_T/stop-queue.sh"
  [ "$status" -eq 1 ]
  grep -F '"ok":false' <<<"$output"
  [ -e "$RESDIR/tenants/ten" ]
  session_exists
}

@test "tenant stop.sh (alone and in a stop batch) keeps the last screen in agent.log: logs.sh shows it once the session is gone" {
  reservation_up
  echo "say the screen before the stop" >"$STUB/agent-ten.mode"
  run bash "$BUILT/start.sh" 3>&-
  [ "$status" -eq 0 ]
  wait_for 5 agent_started ten
  wait_for 3 eval 'tmux -L "$SERVER" capture-pane -p -t =sac-ten: | grep -qF "the screen before the stop"'
  run bash "$BUILT/stop.sh" 3>&-
  [ "$status" -eq 0 ]
  no_session
  grep -F "[sac] agent ten: its last screen before sac agent stop:" "$DIR/agent.log"
  grep -F "the screen before the stop" "$DIR/agent.log"
  run bash "$BUILT/logs.sh" 20 3>&-
  [ "$status" -eq 0 ]
  result_json
  jcheck '.ok == true and (.text_b64 | @base64d | contains("the screen before the stop"))'
  # In a stop batch: stop-queue.sh's kill keeps it too.
  : >"$DIR/agent.log"
  run bash "$BUILT/start.sh" 3>&-
  [ "$status" -eq 0 ]
  wait_for 5 eval 'tmux -L "$SERVER" capture-pane -p -t =sac-ten: | grep -qF "the screen before the stop"'
  "$(dirname "$(command -v "$SACGEN")")/python3" -c 'from sacgen.compile.render import render_stop_queue; print(render_stop_queue(), end="")' \
    >"$SAC_T/stop-queue.sh"
  SAC_STOP_BATCH=b5 run bash "$BUILT/stop.sh" 3>&-
  [ "$status" -eq 0 ]
  SAC_STOP_BATCH=b5 run bash "$SAC_T/stop-queue.sh"
  [ "$status" -eq 0 ]
  no_session
  grep -F "[sac] agent ten: its last screen before sac agent stop:" "$DIR/agent.log"
  grep -F "the screen before the stop" "$DIR/agent.log"
}

@test "tenant agent that exits by itself: last-exit written, taken off the manifest" {
  reservation_up
  echo "exit 4" >"$STUB/agent-ten.mode"
  # start.sh may see the session die right away (@died) or not; either way:
  run bash "$BUILT/start.sh" 3>&-
  wait_for 5 is_file "$DIR/last-exit"
  assert_eq "$(<"$DIR/last-exit")" 4
  wait_for 3 no_session
  [ ! -e "$RESDIR/tenants/ten" ]
  grep -F "exited with status 4" "$DIR/agent.log"
  [ -n "$(tail -n 1 "$DIR/agent.log")" ]
}

@test "tenant agent that exits while its launch step is still ending: not back on the manifest after it took itself off" {
  reservation_up
  echo "exit 4" >"$STUB/agent-ten.mode"
  echo 1 >"$STUB/srun.linger"
  run bash "$BUILT/start.sh" 3>&-
  is_file "$DIR/last-exit"
  [ ! -e "$RESDIR/tenants/ten" ]
}

@test "tenant stop.sh during its start.sh: the stop waits for the start, then the session is gone and off the manifest" {
  reservation_up
  printf '%s\n' 'sleep 1.5' >"$HOME/hooks/tenant hook.sh"
  bash "$BUILT/start.sh" >"$SAC_T/start.out" 3>&- &
  start_pid=$!
  wait_for 3 file_has "$STUB/srun.log" "--jobid=301"
  run bash "$BUILT/stop.sh" 3>&-
  [ "$status" -eq 0 ]
  result_json
  jcheck '.ok == true and .killed == true'
  wait "$start_pid"
  grep -F '"ok":true' "$SAC_T/start.out"
  no_session
  [ ! -e "$RESDIR/tenants/ten" ]
}

@test "tenant stop.sh that cannot have the lock (a start still setting up): changes nothing, says so; the start's tenant stays on the manifest" {
  reservation_up
  printf '%s\n' 'sleep 3' >"$HOME/hooks/tenant hook.sh"
  bash "$BUILT/start.sh" >"$SAC_T/start.out" 3>&- &
  start_pid=$!
  wait_for 3 file_has "$STUB/srun.log" "--jobid=301"
  SAC_LOCK_WAIT=1 run bash "$BUILT/stop.sh" 3>&-
  [ "$status" -eq 1 ]
  result_json
  jcheck '.ok == false and .error == "another start or stop of ten is still running on \($h)"' --arg h "$(hostname)"
  wait "$start_pid"
  grep -F '"ok":true' "$SAC_T/start.out"
  session_exists
  [ -e "$RESDIR/tenants/ten" ]
}

@test "start --all and stop --all of tenants in two reservations at once: no batch waits on the other's locks" {
  py="$(dirname "$(command -v "$SACGEN")")/python3"
  "$py" -c 'from sacgen.compile.render import render_launch_queue as r; print(r(), end="")' >"$SAC_T/lq.sh"
  "$py" -c 'from sacgen.compile.render import render_stop_queue as r; print(r(), end="")' >"$SAC_T/sq.sh"
  for p in 1 2; do mkdir -p "$SAC_REMOTE_HOME/reservations/pool$p/tenants"; done
  tmux -L s1 new-session -d -s _root 'sleep 300' 3>&-
  tmux -L s2 new-session -d -s _root 'sleep 300' 3>&-
  squeue_add sac-res-pool1 301 RUNNING node7
  squeue_add sac-res-pool2 302 RUNNING node8
  for n in zed amy; do
    mkdir -p "$SAC_REMOTE_HOME/agents/$n"
    printf '%s\n' 'printf "ready\n" >"${0%/*}/launch-state"' 'tmux -S "${TMUX%%,*}" wait-for -S "$1"' 'exec sleep 300' \
      >"$SAC_REMOTE_HOME/agents/$n/session.sh"
  done
  echo 2 >"$STUB/srun.linger"
  printf '301\tnode7\ts1\tpool1\tzed\t%s\n302\tnode8\ts2\tpool2\tamy\t%s\n' \
    "$SAC_REMOTE_HOME/agents/zed/session.sh" "$SAC_REMOTE_HOME/agents/amy/session.sh" >"$SAC_REMOTE_HOME/.launch-L1"
  printf '302\tnode8\ts2\tpool2\tamy\n301\tnode7\ts1\tpool1\tzed\n' >"$SAC_REMOTE_HOME/.stop-S1"
  start=$SECONDS
  SAC_LAUNCH_BATCH=L1 SAC_LOCK_WAIT=20 bash "$SAC_T/lq.sh" >"$SAC_T/lq.out" 2>&1 3>&- &
  lp=$!
  SAC_STOP_BATCH=S1 SAC_LOCK_WAIT=20 bash "$SAC_T/sq.sh" >"$SAC_T/sq.out" 2>&1 3>&- &
  sp=$!
  wait "$lp"
  wait "$sp"
  ((SECONDS - start < 15))
  ! grep -F "still running" "$SAC_T/lq.out" "$SAC_T/sq.out"
  assert_eq "$(grep -c '"ok":true' "$SAC_T/lq.out")" 2
  assert_eq "$(grep -c '"ok":true' "$SAC_T/sq.out")" 2
}

@test "tenant stop.sh while the reservation is suspended: refused, the tenant stays on the manifest (alone and in a stop batch)" {
  reservation_up
  run bash "$BUILT/start.sh" 3>&-
  [ "$status" -eq 0 ]
  : >"$STUB/squeue.state"
  squeue_add sac-res-pool1 301 SUSPENDED node7
  for batch in "" s1; do
    SAC_STOP_BATCH=$batch run bash "$BUILT/stop.sh" 3>&-
    [ "$status" -eq 1 ]
    result_json
    jcheck '.ok == false and .error == "reservation '"'"'pool1'"'"' is suspended (job 301 SUSPENDED): its sessions cannot be stopped until it resumes; try again then"'
    [ -e "$RESDIR/tenants/ten" ]
  done
  session_exists
}

@test "book.sh whose sac went away while it waits: ends at the next beat, letting go of its lock" {
  res=$(jq -n '{apiVersion: "scitex-agent-container/v3", kind: "Reservation",
      spec: {host: "localhost", cpus: 1, time: "1:00:00", tmux_server: "bk"}}')
  sac_build bk "$res"
  start=$SECONDS
  timeout 20 bash "$BUILT/book.sh" 15 3>&- | true
  ((SECONDS - start < 5))
  flock -n "$SAC_REMOTE_HOME/reservations/bk/book.lock" true
}

# The launch waits for session.sh's report, not a fixed delay: what a set-up says.

# start_fails WHY: start.sh fails with WHY, leaves no session and no manifest
# entry, and the tenant's agent.log has the same line.
start_fails() {
  run bash "$BUILT/start.sh" 3>&-
  [ "$status" -eq 1 ]
  result_json
  jcheck '.ok == false and .error == "tenant session sac-ten could not start: \($why); see: sac agent logs ten"' --arg why "$1"
  wait_for 3 no_session
  [ ! -e "$RESDIR/tenants/ten" ]
  grep -F -- "sac: $1" "$DIR/agent.log"
  [ ! -e "$DIR/launch-state" ]
}

@test "tenant start.sh: a program that is not there is reported as such" {
  reservation_up
  rm "$AGENT"
  start_fails "agent program not found: $AGENT"
}

@test "tenant start.sh: a missing pre_agent hook is reported as such" {
  reservation_up
  rm "$HOME/hooks/tenant hook.sh"
  start_fails "pre_agent hook not found or not readable: $HOME/hooks/tenant hook.sh"
}

@test "tenant start.sh waits for a slow pre_agent hook: its failure is reported, its success is a start" {
  reservation_up
  printf '%s\n' 'sleep 1' 'return 3' >"$HOME/hooks/tenant hook.sh"
  start_fails "pre_agent hook $HOME/hooks/tenant hook.sh failed with status 3"

  printf '%s\n' 'sleep 1' "export HOOK_ONLY='slow'" >"$HOME/hooks/tenant hook.sh"
  run bash "$BUILT/start.sh" 3>&-
  [ "$status" -eq 0 ]
  result_json
  jcheck '.ok == true and .already == false'
  session_exists
  wait_for 5 agent_started ten
  assert_env ten HOOK_ONLY slow
}

@test "tenant start.sh: a hook that exits ends the set-up, and says so" {
  reservation_up
  printf '%s\n' 'exit 5' >"$HOME/hooks/tenant hook.sh"
  run bash "$BUILT/start.sh" 3>&-
  [ "$status" -eq 1 ]
  result_json
  jcheck '.ok == false and .error == "tenant session sac-ten could not start: the session ended during its set-up (status 5); see: sac agent logs ten"'
  wait_for 3 no_session
  # What the error points at says it too.
  assert_eq "$(<"$DIR/agent.log")" "sac: the session ended during its set-up (status 5)"
}

@test "tenant start.sh: a hook that changes dir, log, TMUX and PATH and fails is still reported, and logged" {
  reservation_up
  printf '%s\n' 'dir=/nonexistent log=/nonexistent/x.log; unset TMUX; PATH=/nonexistent' 'return 9' \
    >"$HOME/hooks/tenant hook.sh"
  start_fails "pre_agent hook $HOME/hooks/tenant hook.sh failed with status 9"
}

@test "a tenant's pre_agent hook may use every name but sac_*: the session starts; the agent that ends takes itself off the manifest and logs its screen" {
  reservation_up
  clobbering_hook "$HOME/hooks/tenant hook.sh"
  : >"$RESDIR/tenants/other"
  run bash "$BUILT/start.sh" 3>&-
  [ "$status" -eq 0 ]
  [[ $output == *'"ok":true'* ]]
  wait_for 5 agent_started ten || { cat "$DIR/agent.log"; false; }
  [ -e "$RESDIR/tenants/ten" ]
  kill "$(<"$STUB/agent-ten.pid")"
  wait_for 5 no_session
  [ ! -e "$RESDIR/tenants/ten" ]
  [ -e "$RESDIR/tenants/other" ]
  grep -F "agent ten exited with status" "$DIR/agent.log"
  [[ $(<"$DIR/last-exit") =~ ^[0-9]+$ ]]
  ! grep -rF clobbered "$DIR"
}

@test "tenant start.sh: a hook's own EXIT trap stays, and runs when the session ends" {
  reservation_up
  printf '%s\n' "trap 'echo trapped >\"\$HOME/trap-ran\"' EXIT" >"$HOME/hooks/tenant hook.sh"
  echo "exit 4" >"$STUB/agent-ten.mode"
  run bash "$BUILT/start.sh" 3>&-
  wait_for 5 is_file "$DIR/last-exit"
  wait_for 5 is_file "$HOME/trap-ran"
  assert_eq "$(<"$HOME/trap-ran")" trapped
}


# prefetch_script: the batch's prefetch step, as sac renders it, in $SAC_T/prefetch.sh.
prefetch_script() {
  "$(dirname "$(command -v "$SACGEN")")/python3" -c \
    'from sacgen.compile.render import render_snapshot_prefetch; print(render_snapshot_prefetch(), end="")' >"$SAC_T/prefetch.sh"
}

@test "snapshot-prefetch.sh (sac list): one step per running job, all at once; status.sh then takes none" {
  reservation_up
  run bash "$BUILT/start.sh" 3>&-
  [ "$status" -eq 0 ]
  wait_for 5 agent_started ten
  # Two agents of runtime slurm, running in jobs of their own, and one pending.
  for a in a1 a2; do
    tmux -L "sac-$a" new-session -d -s "sac-$a" 'sleep 300' 3>&-
  done
  squeue_add sac-a1 401 RUNNING node7
  squeue_add sac-a2 402 RUNNING node8
  squeue_add sac-a3 403 PENDING
  prefetch_script
  # An srun that waits until three have started (10 s at most, then it notes
  # that it waited alone): one after the other, the first would wait it out.
  mv "$STUB_BIN/srun" "$STUB_BIN/srun.real"
  {
    echo '#!/usr/bin/env bash'
    printf 'd=%q\n' "$STUB"
    printf 'real=%q\n' "$STUB_BIN/srun.real"
    cat <<'STUB_EOF'
: >"$d/srun.started.$$"
for _ in $(seq 200); do
  started=("$d"/srun.started.*)
  ((${#started[@]} >= 3)) && exec "$real" "$@"
  sleep 0.05
done
: >"$d/srun.alone"
exec "$real" "$@"
STUB_EOF
  } >"$STUB_BIN/srun"
  chmod +x "$STUB_BIN/srun"
  : >"$STUB/srun.log"
  : >"$STUB/squeue.log"
  export SAC_SNAPSHOT=b9
  run bash "$SAC_T/prefetch.sh" tenant:pool1 slurm:a1 slurm:a2 slurm:a3 tenant:pool1 tenant:nowhere
  [ "$status" -eq 0 ]
  assert_eq "$output" ""
  [ ! -e "$STUB/srun.alone" ]
  assert_eq "$(grep -c -- '^--jobid=' "$STUB/srun.log")" 3
  assert_eq "$(calls squeue)" 1
  grep -q -- '--jobid=301' "$STUB/srun.log"
  grep -q -- '--jobid=401' "$STUB/srun.log"
  grep -q -- '--jobid=402' "$STUB/srun.log"
  grep -q '^sac-a1|sleep$' "$SAC_REMOTE_HOME/.snapshot-b9.tmux-401-sac-a1"
  grep -q '^sac-a2|sleep$' "$SAC_REMOTE_HOME/.snapshot-b9.tmux-402-sac-a2"
  # The tenant's status now reads the snapshots: no step, no sinfo of its own.
  assert_eq "$(calls sinfo)" 1
  run bash "$BUILT/status.sh"
  [ "$status" -eq 0 ]
  result_json
  jcheck '.state == "RUNNING" and .session_alive == true and .pane_command != null and .node_state == "mixed"'
  assert_eq "$(grep -c -- '^--jobid=' "$STUB/srun.log")" 3
  assert_eq "$(calls squeue)" 1
  assert_eq "$(calls sinfo)" 1
  for a in a1 a2; do tmux -L "sac-$a" kill-server; done
}

@test "snapshot-prefetch.sh tenant:POOL|JOB|NODE: the listing of the job sac knows starts beside squeue; a job that moved on gets today's" {
  reservation_up
  run bash "$BUILT/start.sh" 3>&-
  [ "$status" -eq 0 ]
  wait_for 5 agent_started ten
  prefetch_script
  # An srun that marks its start, and a squeue that waits for that mark (5 s at
  # most, then notes that it waited alone).
  mv "$STUB_BIN/srun" "$STUB_BIN/srun.real"
  mv "$STUB_BIN/squeue" "$STUB_BIN/squeue.real"
  printf '#!/usr/bin/env bash\n: >%q\nexec %q "$@"\n' "$STUB/srun.started" "$STUB_BIN/srun.real" >"$STUB_BIN/srun"
  printf '#!/usr/bin/env bash\nfor _ in $(seq 100); do [[ -e %q ]] && exec %q "$@"; sleep 0.05; done\n: >%q\nexec %q "$@"\n' \
    "$STUB/srun.started" "$STUB_BIN/squeue.real" "$STUB/squeue.alone" "$STUB_BIN/squeue.real" >"$STUB_BIN/squeue"
  chmod +x "$STUB_BIN/srun" "$STUB_BIN/squeue"
  : >"$STUB/srun.log"
  : >"$STUB/squeue.log"
  export SAC_SNAPSHOT=b11
  run bash "$SAC_T/prefetch.sh" "tenant:pool1|301|node7"
  [ "$status" -eq 0 ]
  assert_eq "$output" ""
  [ ! -e "$STUB/squeue.alone" ]
  assert_eq "$(grep -c -- '^--jobid=' "$STUB/srun.log")" 1
  run bash "$BUILT/status.sh" 301 node7
  result_json
  jcheck '.state == "RUNNING" and .job_id == "301" and .session_alive == true and .pane_command != null'
  assert_eq "$(grep -c -- '^--jobid=' "$STUB/srun.log")" 1
  assert_eq "$(calls squeue)" 1
  # The job sac knows has ended: its listing fails, squeue's job gets one.
  export SAC_SNAPSHOT=b12
  : >"$STUB/srun.log"
  run bash "$SAC_T/prefetch.sh" "tenant:pool1|299|node7"
  [ "$status" -eq 0 ]
  assert_eq "$(grep -c -- '^--jobid=299' "$STUB/srun.log")" 1
  assert_eq "$(grep -c -- '^--jobid=301' "$STUB/srun.log")" 1
  run bash "$BUILT/status.sh" 299 node7
  result_json
  jcheck '.state == "RUNNING" and .job_id == "301" and .session_alive == true and .error == null'
  assert_eq "$(grep -c -- '^--jobid=' "$STUB/srun.log")" 2
}

@test "snapshot-prefetch.sh when squeue fails: nothing listed, nothing printed, status.sh reports it" {
  reservation_up
  : >"$STUB/squeue.fail"
  prefetch_script
  export SAC_SNAPSHOT=b10
  run bash "$SAC_T/prefetch.sh" tenant:pool1 slurm:a1
  [ "$status" -eq 0 ]
  assert_eq "$output" ""
  assert_eq "$(calls srun)" 0
  run bash "$BUILT/status.sh"
  [ "$status" -eq 1 ]
  result_json
  jcheck '.state == "UNKNOWN"'
}

@test "tenant status.sh alone and in a snapshot batch reads past squeue's warnings on stderr" {
  reservation_up
  run bash "$BUILT/start.sh" 3>&-
  [ "$status" -eq 0 ]
  wait_for 5 agent_started ten
  printf '%s\n' "squeue: warning: Could not find a valid TRES: gres/gpu" "slurm_load_jobs: 2 warnings" >"$STUB/slurm.warn"
  run bash "$BUILT/status.sh"
  result_json
  jcheck '.state == "RUNNING" and .job_id == "301" and .session_alive == true'
  SAC_SNAPSHOT=w1 run bash "$BUILT/status.sh"
  result_json
  jcheck '.state == "RUNNING" and .job_id == "301" and .session_alive == true'
}

@test "tenant start.sh of a live tenant whose session.sh changed: renamed into place, the running bash keeps the old" {
  reservation_up
  run bash "$BUILT/start.sh" 3>&-
  [ "$status" -eq 0 ]
  wait_for 5 agent_started ten
  f="$SAC_REMOTE_HOME/agents/ten/session.sh"
  inode=$(stat -c %i "$f")
  run bash "$BUILT/start.sh" 3>&-
  assert_eq "$(stat -c %i "$f")" "$inode"
  echo "# as an older sacgen wrote it" >>"$f"
  run bash "$BUILT/start.sh" 3>&-
  [ "$status" -eq 0 ]
  result_json
  jcheck '.already == true'
  [ "$(stat -c %i "$f")" != "$inode" ]
  cmp "$BUILT/session.sh" "$f"
  # The live session's bash still has the file it started with.
  pane=$(tmux -L sacpool list-panes -t =sac-ten: -F '#{pane_pid}')
  grep -q "as an older sacgen wrote it" "/proc/$pane/fd/255" 2>/dev/null || ls -l "/proc/$pane/fd/" | grep -q "(deleted)"
}
