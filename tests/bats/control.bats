#!/usr/bin/env bats
# The login-node scripts of runtime slurm: start.sh, stop.sh, status.sh, logs.sh,
# with stub SLURM commands; srun runs its command here, next to the real tmux.
# SC2016/SC1003: hostile values and jq programs are single-quoted on purpose;
# SC2030/SC2031: each test exports its own SLURM_* variables on purpose.
# shellcheck disable=SC2016,SC1003,SC2030,SC2031

load helpers

setup() {
  sac_setup
  make_agent ctl
  spec=$(jq -n --arg cmd "$AGENT" '{apiVersion: "scitex-agent-container/v3", kind: "Agent",
      spec: {runtime: "slurm", model: "sonnet",
             claude: {command: $cmd, flags: ["--dangerously-skip-permissions", "a b"]},
             slurm: {time_limit: "1-0", resubmit_before: 600}}}')
  sac_build ctl "$spec"
  DIR="$SAC_REMOTE_HOME/agents/ctl"
}
teardown() { sac_teardown; }

# A login profile that talks, as many clusters' do, and puts SLURM on PATH
# (/etc/profile may have reset it).
fake_login_profile() {
  {
    echo 'echo "Welcome to the fake cluster. Quota: 99% used."'
    echo 'echo "module: warning: something on stderr" >&2'
    printf 'export PATH=%q:"$PATH"\n' "$STUB_BIN"
  } >"$HOME/.bash_profile"
}

# The tmux session of the agent, as job.sbatch would have it on its node.
fake_agent_session() {
  tmux -L sac-ctl new-session -d -s sac-ctl -x 80 -y 20 "$@" 3>&-
}

# ---------------------------------------------------------------------------
# stop.sh

@test "stop.sh cancels the whole chain by name, leaves the stopped marker, ends with the result line despite a login banner" {
  fake_login_profile
  mkdir -p "$DIR"
  squeue_add sac-ctl 101 RUNNING node1
  squeue_add sac-ctl 102 PENDING ""
  squeue_add sac-other 103 RUNNING node2
  run bash -l -s <"$BUILT/stop.sh"
  [ "$status" -eq 0 ]
  [[ $output == *"Welcome to the fake cluster"* ]]
  result_json
  jcheck '.ok == true and .name == "ctl" and .cancelled == ["101", "102"]'
  assert_eq "$(cat "$STUB/scancel.log")" "-u $SAC_USER -n sac-ctl"
  [ -e "$DIR/stopped" ]
}

@test "stop.sh of an agent with no folder on this host (started from another home): cancels by name, makes no folder" {
  squeue_add sac-ctl 101 RUNNING node1
  run bash "$BUILT/stop.sh"
  [ "$status" -eq 0 ]
  result_json
  jcheck '.ok == true and .cancelled == ["101"]'
  assert_eq "$(cat "$STUB/scancel.log")" "-u $SAC_USER -n sac-ctl"
  [ ! -e "$DIR" ]
}

@test "stop.sh keeps the agent's last screen in its job log (one step into the running job), before it cancels" {
  mkdir -p "$DIR"
  squeue_add sac-ctl 101 RUNNING node1
  fake_agent_session bash -c 'echo "the screen before the stop"; exec sleep 300'
  wait_for 3 eval 'tmux -L sac-ctl capture-pane -p -t =sac-ctl: | grep -qF "the screen before the stop"'
  echo sac-ctl >"$STUB/scancel.kills_tmux"
  run bash "$BUILT/stop.sh"
  [ "$status" -eq 0 ]
  result_json
  jcheck '.ok == true and .cancelled == ["101"]'
  grep -F "[sac] agent ctl: its last screen before sac agent stop:" "$DIR/job-101.log"
  grep -F "the screen before the stop" "$DIR/job-101.log"
  grep -F -- "--jobid=101 --overlap" "$STUB/srun.log"
  # One look at the queue: the cancel's own, which the screen's step shares.
  assert_eq "$(calls squeue)" 1
}

@test "stop.sh whose screen-keeping step hangs: gives it 5 s, then cancels all the same" {
  mkdir -p "$DIR"
  squeue_add sac-ctl 101 RUNNING node1
  echo 60 >"$STUB/srun.hang"
  SECONDS=0
  run bash "$BUILT/stop.sh"
  [ "$status" -eq 0 ]
  ((SECONDS < 15))
  result_json
  jcheck '.ok == true and .cancelled == ["101"]'
  assert_eq "$(cat "$STUB/scancel.log")" "-u $SAC_USER -n sac-ctl"
}

@test "stop.sh when squeue fails: ok false, no scancel" {
  mkdir -p "$DIR"
  : >"$STUB/squeue.fail"
  run bash "$BUILT/stop.sh"
  [ "$status" -eq 1 ]
  result_json
  jcheck '.ok == false and (.error | contains("could not ask squeue")) and (.error | contains("Unable to contact"))'
  assert_eq "$(calls scancel)" 0
}

@test "stop.sh: the login shell's SCANCEL_* settings (a SCANCEL_STATE would spare jobs) never reach scancel" {
  squeue_add sac-ctl 101 RUNNING node1
  mkdir -p "$DIR"
  SCANCEL_STATE=PENDING SCANCEL_INTERACTIVE=1 run bash "$BUILT/stop.sh"
  [ "$status" -eq 0 ]
  assert_eq "$(calls scancel)" 1
  [ ! -s "$STUB/scancel.env" ]
}

@test "stop.sh with nothing queued: ok, nothing cancelled, no scancel" {
  run bash "$BUILT/stop.sh"
  [ "$status" -eq 0 ]
  result_json
  jcheck '.ok == true and .cancelled == []'
  assert_eq "$(calls scancel)" 0
}

@test "stop.sh when scancel fails: ok false with scancel's message" {
  squeue_add sac-ctl 101 RUNNING node1
  : >"$STUB/scancel.fail"
  run bash "$BUILT/stop.sh"
  [ "$status" -eq 1 ]
  result_json
  jcheck '.ok == false and (.error | contains("scancel failed"))'
}

# ---------------------------------------------------------------------------
# status.sh

@test "status.sh when squeue fails: state UNKNOWN, session_alive null, exit 1 (never ABSENT)" {
  : >"$STUB/squeue.fail"
  run bash "$BUILT/status.sh"
  [ "$status" -eq 1 ]
  result_json
  jcheck '.state == "UNKNOWN" and .session_alive == null and .job_id == null'
  jcheck '.error | contains("Unable to contact slurm controller")'
}

@test "status.sh with an empty queue: ABSENT, session not alive" {
  run bash "$BUILT/status.sh"
  [ "$status" -eq 0 ]
  result_json
  jcheck '.state == "ABSENT" and .session_alive == false and .job_id == null and .jobs == []'
  jcheck '.last_job == null and .last_exit == null and .stopped == false'
  assert_eq "$(calls srun)" 0
  # How it ended: the last job that ran it, the agent's exit status, a stop.
  mkdir -p "$DIR"
  printf '101\n102\n' >"$DIR/jobs"
  echo 127 >"$DIR/last-exit"
  run bash "$BUILT/status.sh"
  result_json
  jcheck '.state == "ABSENT" and .last_job == "102" and .last_exit == 127 and .stopped == false'
  echo 'x"y' >"$DIR/last-exit"
  : >"$DIR/stopped"
  run bash "$BUILT/status.sh"
  result_json
  jcheck '.last_exit == null and .stopped == true'
}

@test "status.sh RUNNING: asks tmux through srun in the job, session_alive true" {
  squeue_add sac-ctl 101 RUNNING node1
  squeue_add sac-ctl 102 PENDING ""
  fake_agent_session sleep 300
  run bash "$BUILT/status.sh"
  [ "$status" -eq 0 ]
  result_json
  jcheck '.state == "RUNNING" and .job_id == "101" and .node == "node1" and .session_alive == true'
  jcheck '.pane_command == "sleep" and .node_state == "mixed" and .runtime == "slurm"'
  jcheck '.jobs == [{"job_id": "101", "state": "RUNNING"}, {"job_id": "102", "state": "PENDING"}]'
  grep -F -- "--jobid=101 --overlap" "$STUB/srun.log"
  grep -F -- "-w node1" "$STUB/srun.log"
}

@test "status.sh RUNNING without the tmux session: session_alive false" {
  squeue_add sac-ctl 101 RUNNING node1
  run bash "$BUILT/status.sh"
  [ "$status" -eq 0 ]
  result_json
  jcheck '.state == "RUNNING" and .session_alive == false'
}

@test "status.sh RUNNING but srun cannot reach the node: session_alive null with an error" {
  squeue_add sac-ctl 101 RUNNING node1
  : >"$STUB/srun.fail"
  run bash "$BUILT/status.sh"
  result_json
  jcheck '.state == "RUNNING" and .session_alive == null and (.error | contains("could not reach"))'
}

@test "status.sh in a snapshot batch (sac list) when srun cannot reach the node: srun's own words, every time" {
  squeue_add sac-ctl 101 RUNNING node1
  : >"$STUB/srun.fail"
  export SAC_SNAPSHOT=c1
  for _ in 1 2; do
    run bash "$BUILT/status.sh"
    result_json
    jcheck '.state == "RUNNING" and .session_alive == null'
    jcheck '.error == "could not reach the job'"'"'s node node1: srun: error: Unable to create step for job: Invalid job id specified"'
  done
  assert_eq "$(grep -c -- '^--jobid=' "$STUB/srun.log")" 2
  assert_eq "$(calls squeue)" 1
  rm "$STUB/srun.fail"
  run bash "$BUILT/status.sh"
  result_json
  jcheck '.session_alive == false and .error == null'
}

@test "status.sh and logs.sh SUSPENDED: session_alive null with the reason (not a dead session), no srun" {
  squeue_add sac-ctl 101 SUSPENDED node1
  run bash "$BUILT/status.sh"
  [ "$status" -eq 0 ]
  result_json
  jcheck '.state == "SUSPENDED" and .session_alive == null and .error == "job 101 is SUSPENDED: its session cannot be seen until the job resumes"'
  run bash "$BUILT/logs.sh" 10
  [ "$status" -eq 1 ]
  result_json
  jcheck '.ok == false and .error == "job 101 is SUSPENDED: the pane of ctl cannot be read until the job resumes"'
  assert_eq "$(calls srun)" 0
}

@test "status.sh PENDING: the pending job, session not alive, no srun" {
  squeue_add sac-ctl 102 PENDING ""
  run bash "$BUILT/status.sh"
  [ "$status" -eq 0 ]
  result_json
  jcheck '.state == "PENDING" and .job_id == "102" and .session_alive == false'
  assert_eq "$(calls srun)" 0
}

# ---------------------------------------------------------------------------
# start.sh

@test "start.sh installs job.sbatch and session.sh as built and submits job.sbatch once" {
  run bash "$BUILT/start.sh"
  [ "$status" -eq 0 ]
  result_json
  jcheck '.ok == true and .job_id == "200" and .state == "PENDING"'
  jcheck '.dir == $d' --arg d "$DIR"
  cmp "$BUILT/job.sbatch" "$DIR/job.sbatch"
  cmp "$BUILT/session.sh" "$DIR/session.sh"
  assert_eq "$(calls sbatch)" 1
  argv="$STUB/sbatch.argv.1"
  has_word "$argv" --parsable
  has_word "$argv" "--output=$DIR/job-%j.log"
  has_word "$argv" "--chdir=$DIR"
  assert_eq "$(last_word "$argv")" "$DIR/job.sbatch"
  file_has "$DIR/submitted" 200
}

@test "start.sh: the login shell's SBATCH_* settings never override sac's options or the YAML's, and stay defaults for the rest; SQUEUE_* never reach squeue" {
  export SBATCH_JOB_NAME=other SBATCH_SIGNAL=B:TERM@60 SBATCH_OPEN_MODE=truncate SBATCH_EXPORT=NONE \
    SBATCH_ARRAY_INX=1-4 SBATCH_TIMELIMIT=5 SBATCH_ACCOUNT=lab SBATCH_PARTITION=short \
    SQUEUE_STATES=all SQUEUE_PARTITION=short SQUEUE_NAMES=other
  run bash "$BUILT/start.sh"
  [ "$status" -eq 0 ]
  # The YAML sets the time limit, not the account nor the partition.
  assert_eq "$(cat "$STUB/sbatch.env.1")" $'SBATCH_ACCOUNT=lab\nSBATCH_PARTITION=short'
  [ -e "$STUB/squeue.env" ] && [ ! -s "$STUB/squeue.env" ]
  assert_eq "$(calls squeue)" 1
}

@test "start.sh when the agent already runs: refuses, no sbatch" {
  squeue_add sac-ctl 101 RUNNING node1
  run bash "$BUILT/start.sh"
  [ "$status" -eq 1 ]
  result_json
  jcheck '.ok == false and .already == true and .job_id == "101"'
  assert_eq "$(calls sbatch)" 0
}

@test "start.sh --force: cancels the live chain by name, submits once, reports the cancelled jobs" {
  squeue_add sac-ctl 101 RUNNING node1
  squeue_add sac-ctl 102 PENDING
  run bash "$BUILT/start.sh" --force
  [ "$status" -eq 0 ]
  result_json
  jcheck '.ok == true and .job_id == "200" and .replaced == ["101", "102"]'
  file_has "$STUB/scancel.log" "-u $SAC_USER -n sac-ctl"
  assert_eq "$(calls sbatch)" 1
  has_word "$STUB/sbatch.argv.1" --dependency=singleton
  [ ! -e "$DIR/stopped" ]
}

@test "start.sh --force when sbatch fails: never reports a cancelled job, still listed, as the new one" {
  squeue_add sac-ctl 101 RUNNING node1
  echo 5 >"$STUB/sbatch.fail"
  run bash "$BUILT/start.sh" --force
  [ "$status" -eq 1 ]
  result_json
  jcheck '.ok == false and (.error | contains("sbatch failed"))'
}

@test "start.sh --force whose cancel fails (squeue, then scancel): the stopped marker is taken back, the successor markers kept, nothing submitted" {
  squeue_add sac-ctl 101 RUNNING node1
  mkdir -p "$DIR"
  echo 200 >"$DIR/successor.101"
  for stub in squeue scancel; do
    # squeue answers start.sh's first look, then fails (its look after the marker).
    if [[ $stub == squeue ]]; then echo 1 >"$STUB/squeue.fail_after"; else : >"$STUB/scancel.fail"; fi
    run bash "$BUILT/start.sh" --force
    [ "$status" -eq 1 ]
    result_json
    jcheck '.ok == false and (.error | test("^(could not ask squeue|scancel failed) on "))'
    [ ! -e "$DIR/stopped" ]
    assert_eq "$(<"$DIR/successor.101")" 200
    assert_eq "$(calls sbatch)" 0
    rm -f "$STUB/squeue.fail" "$STUB/squeue.fail_after" "$STUB/scancel.fail"
  done
}

@test "stop.sh during a start.sh whose sbatch is slow: the stop waits for the start, then cancels the job it submitted" {
  echo 1.5 >"$STUB/sbatch.delay"
  bash "$BUILT/start.sh" >"$SAC_T/start.out" &
  start_pid=$!
  wait_for 3 is_file "$DIR/start.lock"
  sleep 0.3
  run bash "$BUILT/stop.sh"
  [ "$status" -eq 0 ]
  result_json
  jcheck '.ok == true and .cancelled == ["200"]'
  wait "$start_pid"
  grep -F '"ok":true' "$SAC_T/start.out"
  [ -e "$DIR/stopped" ]
}

@test "stop.sh that cannot have the lock (a start in progress): changes nothing, says so" {
  echo 3 >"$STUB/sbatch.delay"
  bash "$BUILT/start.sh" >"$SAC_T/start.out" &
  start_pid=$!
  wait_for 3 is_file "$DIR/start.lock"
  sleep 0.3
  SAC_LOCK_WAIT=1 run bash "$BUILT/stop.sh"
  [ "$status" -eq 1 ]
  result_json
  jcheck '.ok == false and .error == "another start or stop of ctl is still running on \($h)"' --arg h "$(hostname)"
  [ ! -e "$DIR/stopped" ]
  wait "$start_pid"
  grep -F '"ok":true' "$SAC_T/start.out"
}

@test "start.sh when sbatch fails but submitted: finds the job, reports it" {
  : >"$STUB/sbatch.fail_submitted"
  run bash "$BUILT/start.sh"
  [ "$status" -eq 0 ]
  result_json
  jcheck '.ok == true and .job_id == "200"'
  assert_eq "$(calls sbatch)" 1
}

@test "start.sh when sbatch fails: ok false with sbatch's message" {
  echo 5 >"$STUB/sbatch.fail"
  run bash "$BUILT/start.sh"
  [ "$status" -eq 1 ]
  result_json
  jcheck '.ok == false and (.error | contains("Socket timed out"))'
}

# ---------------------------------------------------------------------------
# logs.sh

@test "logs.sh RUNNING: the pane's text through srun" {
  squeue_add sac-ctl 101 RUNNING node1
  fake_agent_session bash -c 'echo "hello from the pane"; exec sleep 300'
  wait_for 3 bash -c 'tmux -L sac-ctl capture-pane -p -t =sac-ctl: | grep -q "hello from the pane"'
  run bash "$BUILT/logs.sh" 20
  [ "$status" -eq 0 ]
  result_json
  jcheck '.ok == true and .source == "pane"'
  [[ $(jq -r .text_b64 <<<"$RESULT" | base64 -d) == *"hello from the pane"* ]]
}

@test "logs.sh without a session: the tail of the last job's log" {
  mkdir -p "$DIR"
  echo 101 >"$DIR/jobs"
  printf 'line %s\n' 1 2 3 4 5 >"$DIR/job-101.log"
  run bash "$BUILT/logs.sh" 2
  [ "$status" -eq 0 ]
  result_json
  jcheck '.source == "job-log" and .path == $p' --arg p "$DIR/job-101.log"
  assert_eq "$(jq -r .text_b64 <<<"$RESULT" | base64 -d)" $'line 4\nline 5'
}

@test "start.sh, status.sh and stop.sh read past sbatch's and squeue's warnings on stderr" {
  printf '%s\n' "squeue: warning: Could not find a valid TRES: gres/gpu" "7|RUNNING is not a job" >"$STUB/slurm.warn"
  run bash "$BUILT/status.sh"
  [ "$status" -eq 0 ]
  result_json
  jcheck '.state == "ABSENT" and .job_id == null and .jobs == []'
  run bash "$BUILT/start.sh"
  [ "$status" -eq 0 ]
  result_json
  jcheck '.ok == true and .job_id == "200"'
  assert_eq "$(calls sbatch)" 1
  run bash "$BUILT/status.sh"
  result_json
  jcheck '.state == "PENDING" and .job_id == "200" and .jobs == [{"job_id": "200", "state": "PENDING"}]'
  run bash "$BUILT/start.sh"
  [ "$status" -eq 1 ]
  result_json
  jcheck '.already == true and .job_id == "200"'
  run bash "$BUILT/stop.sh"
  [ "$status" -eq 0 ]
  result_json
  jcheck '.ok == true and .cancelled == ["200"]'
}

@test "status.sh shows the running job, not one still completing beside it (start --force)" {
  squeue_add sac-ctl 101 COMPLETING node1
  squeue_add sac-ctl 102 RUNNING node2
  run bash "$BUILT/status.sh"
  result_json
  jcheck '.state == "RUNNING" and .job_id == "102" and .node == "node2"'
}

@test "stop.sh that fails (squeue, then scancel): the stopped marker is taken back, resubmission stays on" {
  squeue_add sac-ctl 101 RUNNING node1
  mkdir -p "$DIR"
  : >"$STUB/squeue.fail"
  run bash "$BUILT/stop.sh"
  [ "$status" -eq 1 ]
  [ ! -e "$DIR/stopped" ]
  rm "$STUB/squeue.fail"
  : >"$STUB/scancel.fail"
  run bash "$BUILT/stop.sh"
  [ "$status" -eq 1 ]
  [ ! -e "$DIR/stopped" ]
  rm "$STUB/scancel.fail"
  run bash "$BUILT/stop.sh"
  [ "$status" -eq 0 ]
  [ -e "$DIR/stopped" ]
}

@test "start.sh right after a stop, the old job still COMPLETING: not yet, and says so (singleton would not wait for it)" {
  squeue_add sac-ctl 101 COMPLETING node1
  run bash "$BUILT/start.sh"
  [ "$status" -eq 1 ]
  result_json
  jcheck '.ok == false and .already != true and (.error | contains("last job 101 is still ending (COMPLETING); start it again in a moment"))'
  assert_eq "$(calls sbatch)" 0
  : >"$STUB/squeue.state"
  run bash "$BUILT/start.sh"
  [ "$status" -eq 0 ]
}

@test "start.sh rewrites session.sh and job.sbatch by rename, and only when they change" {
  run bash "$BUILT/start.sh"
  [ "$status" -eq 0 ]
  inode=$(stat -c %i "$DIR/session.sh")
  : >"$STUB/squeue.state"
  run bash "$BUILT/start.sh"
  [ "$status" -eq 0 ]
  assert_eq "$(stat -c %i "$DIR/session.sh")" "$inode"
  # A changed session.sh: a running bash keeps reading the old file.
  exec 7<"$DIR/session.sh"
  echo "# an older version" >>"$DIR/session.sh"
  : >"$STUB/squeue.state"
  run bash "$BUILT/start.sh"
  [ "$status" -eq 0 ]
  [ "$(stat -c %i "$DIR/session.sh")" != "$inode" ]
  cmp "$BUILT/session.sh" "$DIR/session.sh"
  grep -q "an older version" <&7
  exec 7<&-
  [ -z "$(find "$DIR" -name '*.new.*')" ]
}
