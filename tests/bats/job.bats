#!/usr/bin/env bats
# job.sbatch (runtime slurm) run directly with bash, with stub SLURM commands
# and the real tmux: the agent's start, the USR1 resubmit trap, the hold.
# SC2016/SC1003: hostile values and jq programs are single-quoted on purpose;
# SC2030/SC2031: each test exports its own SLURM_* variables on purpose.
# shellcheck disable=SC2016,SC1003,SC2030,SC2031

load helpers

setup() { sac_setup; }
teardown() { sac_teardown; }

# Values that break any quoting mistake: each must arrive byte for byte.
HOSTILE_FLAGS=(
  --dangerously-skip-permissions
  "it's \"double\" and 'single'"
  '$(touch pwned-by-dollar-paren)'
  '`touch pwned-by-backtick`'
  'back\slash \\ \n \'
  $'two\nlines'
  $'trailing newline\n'
  '  spaced   out  '
  '*'
  '-leading-dash'
  '--model'
  'unicode héllo ✓ 日本語'
  ''
  '$HOME ~ ~/x ${PATH}'
  $'tab\there'
  '; exit 3 && | & > /dev/null'
)
HOSTILE_MODEL='opus "4" it'"'"'s $(id) `id` \ * ✓'

json_list() { python3 -c 'import json, sys; print(json.dumps(sys.argv[1:], ensure_ascii=False))' "$@"; }
json_object() { python3 -c 'import json, sys; a = sys.argv[1:]; print(json.dumps(dict(zip(a[::2], a[1::2])), ensure_ascii=False))' "$@"; }

# agent_json NAME [JQ_FILTER]: a runtime slurm Agent running the stub agent NAME.
# Its restart policy is never: these tests are of the job around the agent (the
# session's supervisor is tests/unit/test_session_supervisor.py's).
agent_json() {
  make_agent "$1"
  jq -n --arg cmd "$AGENT" '{apiVersion: "scitex-agent-container/v3", kind: "Agent",
      spec: {runtime: "slurm", model: "sonnet", restart: {policy: "never"},
             claude: {command: $cmd, flags: ["--dangerously-skip-permissions"]},
             slurm: {time_limit: "1-0", resubmit_before: 3600}}}' | jq "${2:-.}"
}

# launch NAME: install the built scripts, list job 101 as RUNNING, run job.sbatch
# as SLURM would, and wait for the agent to start.
launch() {
  install_agent "$1"
  squeue_add "sac-$1" 101 RUNNING node1
  export SLURM_JOB_ID=101 SLURM_JOB_NAME="sac-$1" SLURMD_NODENAME=node1
  start_job "$AGENT_DIR/job.sbatch"
  if ! wait_for 5 agent_started "$1"; then
    show_job_output
    return 1
  fi
}

@test "job.sbatch starts the agent in tmux: argv, env and workdir byte for byte; hook exports reach it; spec.env wins" {
  mkdir -p "$HOME/hooks"
  cat >"$HOME/hooks/module load.sh" <<'EOF'
export HOOK_ONLY='set by the hook'
export OVERRIDDEN='set by the hook'
EOF
  env_json=$(json_object \
    GREETING "hello 'world' \"\$(date)\" \`id\` \\ \$PATH" \
    MULTI_LINE $'line one\nline two\n' \
    EMPTY '' \
    SPACES '  a   b  ' \
    STAR '*' \
    DASH '-x' \
    UNICODE 'héllo ✓ 日本語' \
    OVERRIDDEN 'set by spec.env')
  flags_json=$(json_list "${HOSTILE_FLAGS[@]}")
  spec=$(agent_json hostile "
    .spec.model = $(json_list "$HOSTILE_MODEL" | jq '.[0]')
    | .spec.claude.flags = $flags_json
    | .spec.env = ($env_json + {PORT: 8080})
    | .spec.workdir = \"~/work dir/it's \$HOME/ünï *\"
    | .spec.slurm.hooks.pre_agent = \"~/hooks/module load.sh\"")
  sac_build hostile "$spec"
  launch hostile

  assert_argv hostile --model "$HOSTILE_MODEL" "${HOSTILE_FLAGS[@]}"
  assert_eq "$(<"$STUB/agent-hostile.pwd")" "$HOME/work dir/it's \$HOME/ünï *"
  [ -d "$HOME/work dir/it's \$HOME/ünï *" ]
  assert_env hostile GREETING "hello 'world' \"\$(date)\" \`id\` \\ \$PATH"
  assert_env hostile MULTI_LINE $'line one\nline two\n'
  assert_env hostile EMPTY ''
  assert_env hostile SPACES '  a   b  '
  assert_env hostile STAR '*'
  assert_env hostile DASH '-x'
  assert_env hostile UNICODE 'héllo ✓ 日本語'
  assert_env hostile PORT 8080
  assert_env hostile HOOK_ONLY 'set by the hook'
  assert_env hostile OVERRIDDEN 'set by spec.env'
  assert_env hostile SLURM_JOB_ID 101
  # Nothing was expanded or executed along the way.
  [ -z "$(find "$SAC_T" -name 'pwned-*' -print -quit)" ]
  # It really runs in the agent's tmux session, held by the job.
  tmux -L sac-hostile has-session -t =sac-hostile
  job_alive
  file_has "$AGENT_DIR/jobs" 101
}

@test "a pre_agent hook may use every name but sac_*: the job still starts the agent, resubmits, and cancels its successor" {
  mkdir -p "$HOME/hooks"
  clobbering_hook "$HOME/hooks/clobber.sh"
  sac_build cl "$(agent_json cl '.spec.slurm.hooks.pre_agent = "~/hooks/clobber.sh"')"
  launch cl
  wait_for 2 file_has "$JOB_OUT" "agent cl started in tmux session sac-cl (tmux -L sac-cl)" || { show_job_output; false; }
  kill -USR1 "$JOB_PID"
  wait_for 2 count_is sbatch 1 || { show_job_output; false; }
  argv="$STUB/sbatch.argv.1"
  has_word "$argv" --job-name=sac-cl
  has_word "$argv" "--chdir=$AGENT_DIR"
  has_word "$argv" "--output=$AGENT_DIR/job-%j.log"
  assert_eq "$(last_word "$argv")" "$AGENT_DIR/job.sbatch"
  wait_for 2 file_has "$AGENT_DIR/successor.101" 200 || { show_job_output; false; }
  kill "$(<"$STUB/agent-cl.pid")"
  wait_for 10 job_ended || { show_job_output; false; }
  grep -F "the agent ended by itself: successor 200 cancelled" "$JOB_OUT"
  grep -F "agent session ended (agent status" "$JOB_OUT"
  ! grep -F clobbered "$JOB_OUT" "$AGENT_DIR/last-exit"
}

@test "the agent's command may start with ~ (the home where it runs) and contain a space" {
  make_agent tilde
  mkdir -p "$HOME/my bin"
  cp "$AGENT" "$HOME/my bin/the agent"
  spec=$(agent_json tilde '.spec.claude.command = "~/my bin/the agent" | .spec.claude.flags = ["x y"]')
  sac_build tilde "$spec"
  launch tilde
  assert_argv tilde --model sonnet "x y"
  assert_eq "$(<"$STUB/agent-tilde.pwd")" "$HOME"
}

@test "USR1 makes the trap submit one successor at once (singleton, job name, job script); the job keeps running" {
  sac_build r1 "$(agent_json r1)"
  launch r1
  kill -USR1 "$JOB_PID"
  wait_for 2 count_is sbatch 1 || { show_job_output; false; }
  argv="$STUB/sbatch.argv.1"
  has_word "$argv" --parsable
  has_word "$argv" --dependency=singleton
  has_word "$argv" --job-name=sac-r1
  has_word "$argv" "--chdir=$AGENT_DIR"
  assert_eq "$(last_word "$argv")" "$AGENT_DIR/job.sbatch"
  wait_for 2 file_has "$AGENT_DIR/successor.101" 200
  wait_for 2 file_has "$JOB_OUT" "submitted successor 200"
  # After the trap the job holds again: it, its session and the agent live on.
  stays_true 1.5 job_alive
  agent_alive r1
  tmux -L sac-r1 has-session -t =sac-r1
  assert_eq "$(calls sbatch)" 1
}

@test "the trap's sbatch drops the SBATCH_* settings the job inherited that would change sac's options or the YAML's" {
  sac_build r15 "$(agent_json r15)"
  export SBATCH_JOB_NAME=other SBATCH_SIGNAL=B:TERM@60 SBATCH_TIMELIMIT=5 SBATCH_QOS=low SBATCH_EXPORT=NONE
  launch r15
  kill -USR1 "$JOB_PID"
  wait_for 2 count_is sbatch 1 || { show_job_output; false; }
  assert_eq "$(cat "$STUB/sbatch.env.1")" "SBATCH_QOS=low"
  wait_for 2 file_has "$AGENT_DIR/successor.101" 200
}

@test "a second USR1 submits no second successor" {
  sac_build r2 "$(agent_json r2)"
  launch r2
  kill -USR1 "$JOB_PID"
  wait_for 3 file_has "$AGENT_DIR/successor.101" 200 || { show_job_output; false; }
  kill -USR1 "$JOB_PID"
  wait_for 3 file_has "$JOB_OUT" "already submitted" || { show_job_output; false; }
  stays_true 1 job_alive
  assert_eq "$(calls sbatch)" 1
  agent_alive r2
}

@test "a second USR1 submits no second successor even when squeue does not show the first yet" {
  : >"$STUB/sbatch.no_queue"
  sac_build r3 "$(agent_json r3)"
  launch r3
  kill -USR1 "$JOB_PID"
  wait_for 3 file_has "$AGENT_DIR/successor.101" 200 || { show_job_output; false; }
  kill -USR1 "$JOB_PID"
  kill -USR1 "$JOB_PID"
  wait_for 3 file_has "$JOB_OUT" "already submitted" || { show_job_output; false; }
  stays_true 1 job_alive
  assert_eq "$(calls sbatch)" 1
}

@test "sbatch failing once is retried after a backoff: exactly one successful submission" {
  echo 1 >"$STUB/sbatch.fail"
  sac_build r4 "$(agent_json r4)"
  launch r4
  kill -USR1 "$JOB_PID"
  wait_for 2 count_is sbatch 1
  wait_for 2 file_has "$JOB_OUT" "sbatch failed (attempt 1, status 1)" || { show_job_output; false; }
  # The retry comes after the 2 s backoff.
  wait_for 6 file_has "$AGENT_DIR/successor.101" 200 || { show_job_output; false; }
  wait_for 2 file_has "$JOB_OUT" "submitted successor 200"
  assert_eq "$(calls sbatch)" 2
  assert_eq "$(wc -l <"$STUB/sbatch.submitted")" 1
  has_word "$STUB/sbatch.argv.2" --dependency=singleton
  stays_true 1 job_alive
  assert_eq "$(calls sbatch)" 2
  agent_alive r4
}

@test "sbatch that fails but did submit: the squeue look finds the successor, no second sbatch" {
  : >"$STUB/sbatch.fail_submitted"
  sac_build r5 "$(agent_json r5)"
  launch r5
  kill -USR1 "$JOB_PID"
  wait_for 2 count_is sbatch 1
  # After the backoff the trap looks at the queue, sees job 200 and stops.
  wait_for 6 file_has "$JOB_OUT" "successor 200 is already queued" || { show_job_output; false; }
  file_has "$AGENT_DIR/successor.101" 200
  stays_true 1 job_alive
  assert_eq "$(calls sbatch)" 1
  agent_alive r5
}

@test "sbatch that fails but did submit, then squeue fails: no second sbatch until squeue answers, which finds the successor" {
  sac_build fs "$(agent_json fs)"
  launch fs
  : >"$STUB/sbatch.fail_submitted"
  echo 1 >"$STUB/squeue.fail_after"
  kill -USR1 "$JOB_PID"
  wait_for 8 file_has "$JOB_OUT" "not submitting again until it answers" || { show_job_output; false; }
  rm -f "$STUB/squeue.fail" "$STUB/squeue.fail_after"
  wait_for 12 file_has "$AGENT_DIR/successor.101" 200 || { show_job_output; false; }
  grep -F "successor 200 is already queued" "$JOB_OUT"
  assert_eq "$(calls sbatch)" 1
}

@test "sbatch not on PATH but found through SAC_SLURM_BIN: still resubmits" {
  make_path_without_slurm
  sac_build r6 "$(agent_json r6)"
  install_agent r6
  squeue_add sac-r6 101 RUNNING node1
  export SLURM_JOB_ID=101 SLURM_JOB_NAME=sac-r6
  PATH=$NOSLURM_PATH SAC_SLURM_BIN=$STUB_BIN start_job "$AGENT_DIR/job.sbatch"
  wait_for 5 agent_started r6 || { show_job_output; false; }
  kill -USR1 "$JOB_PID"
  wait_for 2 count_is sbatch 1 || { show_job_output; false; }
  has_word "$STUB/sbatch.argv.1" --dependency=singleton
  wait_for 2 file_has "$AGENT_DIR/successor.101" 200
  stays_true 1 job_alive
}

@test "no sbatch on PATH nor in SAC_SLURM_BIN: a clear log line, the job does not crash" {
  make_path_without_slurm
  sac_build r7 "$(agent_json r7)"
  install_agent r7
  export SLURM_JOB_ID=101 SLURM_JOB_NAME=sac-r7
  PATH=$NOSLURM_PATH start_job "$AGENT_DIR/job.sbatch"
  wait_for 5 agent_started r7 || { show_job_output; false; }
  kill -USR1 "$JOB_PID"
  wait_for 2 file_has "$JOB_OUT" "sbatch not found" || { show_job_output; false; }
  grep -F "cannot resubmit" "$JOB_OUT"
  stays_true 1 job_alive
  agent_alive r7
  tmux -L sac-r7 has-session -t =sac-r7
  assert_eq "$(calls sbatch)" 0
}

@test "after stop's marker, USR1 submits nothing" {
  export SAC_STOP_GRACE=1
  sac_build r8 "$(agent_json r8)"
  launch r8
  : >"$AGENT_DIR/stopped"
  kill -USR1 "$JOB_PID"
  wait_for 4 file_has "$JOB_OUT" "not resubmitting" || { show_job_output; false; }
  stays_true 1 job_alive
  assert_eq "$(calls sbatch)" 0
}

@test "a stop while the walltime trap's sbatch is in flight waits for it and cancels the successor it made too" {
  sac_build r14 "$(agent_json r14)"
  launch r14
  echo 2 >"$STUB/sbatch.delay"
  kill -USR1 "$JOB_PID"
  wait_for 4 count_is sbatch 1 || { show_job_output; false; }
  run bash "$BUILT/stop.sh"
  [ "$status" -eq 0 ]
  result_json
  jcheck '.ok == true and .cancelled == ["101", "200"]'
}

@test "a job of a stopped agent (a successor that came in after the stop) ends at once without starting it" {
  sac_build r13 "$(agent_json r13)"
  install_agent r13
  : >"$AGENT_DIR/stopped"
  export SLURM_JOB_ID=102
  run timeout 10 bash "$AGENT_DIR/job.sbatch" 3>&-
  [ "$status" -eq 0 ]
  [[ $output == *"agent r13 was stopped: this job ends without starting it"* ]]
  refute tmux -L sac-r13 has-session -t =sac-r13 2>/dev/null
  refute agent_started r13
}

@test "USR1 during a stop that then fails (its marker taken back): the trap waits, then resubmits" {
  sac_build r10 "$(agent_json r10)"
  launch r10
  : >"$AGENT_DIR/stopped"
  kill -USR1 "$JOB_PID"
  sleep 1.5
  rm "$AGENT_DIR/stopped"
  wait_for 4 file_has "$AGENT_DIR/successor.101" 200 || { show_job_output; false; }
  assert_eq "$(calls sbatch)" 1
}

@test "a missing pre_agent hook fails the job with a clear message and starts no tmux session" {
  spec=$(agent_json nohook '.spec.slurm.hooks.pre_agent = "~/hooks/missing hook.sh"')
  sac_build nohook "$spec"
  install_agent nohook
  export SLURM_JOB_ID=101
  run timeout 10 bash "$AGENT_DIR/job.sbatch" 3>&-
  [ "$status" -ne 0 ]
  [ "$status" -ne 124 ] # not the timeout
  [[ $output == *"pre_agent hook not found or not readable: $HOME/hooks/missing hook.sh"* ]]
  refute tmux -L sac-nohook has-session -t =sac-nohook 2>/dev/null
  refute agent_started nohook
}

@test "a pre_agent hook that calls exit: the job log says the hook ended the job; a hook's own EXIT trap stays" {
  mkdir -p "$HOME/hooks"
  printf '%s\n' 'exit 7' >"$HOME/hooks/quits.sh"
  sac_build hq "$(agent_json hq '.spec.slurm.hooks.pre_agent = "~/hooks/quits.sh"')"
  install_agent hq
  export SLURM_JOB_ID=101
  run timeout 10 bash "$AGENT_DIR/job.sbatch" 3>&-
  [ "$status" -eq 7 ]
  [[ $output == *"pre_agent hook $HOME/hooks/quits.sh ended the job (exit 7) before the agent started"* ]]
  refute agent_started hq

  # Cancelled while the hook runs: not the hook's doing.
  printf '%s\n' 'sleep 30' >"$HOME/hooks/quits.sh"
  start_job "$AGENT_DIR/job.sbatch"
  sleep 0.5
  kill -TERM -- "-$JOB_PID" # as SLURM signals every process of the job
  wait_for 5 job_ended || { show_job_output; false; }
  assert_eq "$(job_status)" 143
  grep -F "the job was told to end (SIGTERM) while the pre_agent hook ran" "$JOB_OUT"
  ! grep -F "ended the job" "$JOB_OUT"

  printf '%s\n' "trap 'echo hook trap ran' EXIT" >"$HOME/hooks/quits.sh"
  make_agent hq
  echo "exit 0" >"$STUB/agent-hq.mode"
  run timeout 10 bash "$AGENT_DIR/job.sbatch" 3>&-
  [ "$status" -eq 0 ]
  [[ $output == *"hook trap ran"* ]]
  [[ $output != *"ended the job"* ]]
}

@test "a tmux older than 2.1 on the node: the job says so and ends, no session; 2.1, 3.3a and a git build are fine" {
  sac_build old "$(agent_json old)"
  install_agent old
  old_tmux="$SAC_T/old-tmux"
  mkdir -p "$old_tmux"
  printf '#!/usr/bin/env bash\nif [[ $1 == -V ]]; then cat %q; exit 0; fi\nexec %q "$@"\n' \
    "$SAC_T/tmux-version" "$(type -P tmux)" >"$old_tmux/tmux"
  chmod +x "$old_tmux/tmux"
  echo "tmux 1.8" >"$SAC_T/tmux-version"
  export SLURM_JOB_ID=101
  PATH="$old_tmux:$PATH" run timeout 10 bash "$AGENT_DIR/job.sbatch" 3>&-
  [ "$status" -eq 1 ]
  [[ $output == *"tmux 1.8 on $(hostname) is older than tmux 2.1, which sac needs"* ]]
  refute agent_started old
  for v in "tmux 2.1" "tmux 3.3a" "tmux next-3.5" "tmux master"; do
    echo "$v" >"$SAC_T/tmux-version"
    PATH="$old_tmux:$PATH" run bash -c 'source <(sed -n "/^sac_tmux_too_old_v()/,/^}/p" "$1"); sac_host=h; sac_tmux_too_old_v why; printf "[%s]" "$why"' _ "$AGENT_DIR/job.sbatch"
    assert_eq "$output" "[]"
  done
  echo "tmux 2.0" >"$SAC_T/tmux-version"
  PATH="$old_tmux:$PATH" run bash -c 'source <(sed -n "/^sac_tmux_too_old_v()/,/^}/p" "$1"); sac_host=h; sac_tmux_too_old_v why; printf "[%s]" "$why"' _ "$AGENT_DIR/job.sbatch"
  assert_eq "$output" "[tmux 2.0 on h is older than tmux 2.1, which sac needs]"
}

@test "a failing pre_agent hook fails the job with its status in the message, no tmux session" {
  mkdir -p "$HOME/hooks"
  printf 'echo loading\nreturn 3\n' >"$HOME/hooks/bad.sh"
  spec=$(agent_json badhook '.spec.slurm.hooks.pre_agent = "~/hooks/bad.sh"')
  sac_build badhook "$spec"
  install_agent badhook
  export SLURM_JOB_ID=101
  run timeout 10 bash "$AGENT_DIR/job.sbatch" 3>&-
  [ "$status" -ne 0 ]
  [ "$status" -ne 124 ]
  [[ $output == *"pre_agent hook $HOME/hooks/bad.sh failed with status 3"* ]]
  refute tmux -L sac-badhook has-session -t =sac-badhook 2>/dev/null
  refute agent_started badhook
}

@test "when the agent exits, the job ends with the agent's exit status" {
  sac_build ex "$(agent_json ex)"
  make_agent ex
  echo "exit 7" >"$STUB/agent-ex.mode"
  install_agent ex
  export SLURM_JOB_ID=101
  start_job "$AGENT_DIR/job.sbatch"
  wait_for 10 job_ended || { show_job_output; false; }
  assert_eq "$(job_status)" 7
  assert_eq "$(<"$AGENT_DIR/last-exit")" 7
  grep -F "agent session ended (agent status 7)" "$JOB_OUT"
  # The session's last screen went to the job log, without the empty rows below it.
  grep -F "exited with status 7" "$AGENT_DIR/job-101.log"
  [ -n "$(tail -n 1 "$AGENT_DIR/job-101.log")" ]
  refute tmux -L sac-ex has-session -t =sac-ex 2>/dev/null
  # The hold's temporary directory is gone.
  [ -z "$(find "$TMPDIR" -mindepth 1 -print -quit)" ]
}

@test "a tmux.conf that ends detached sessions and keeps dead panes changes nothing: the agent runs, and its end ends the session" {
  printf 'set -g exit-unattached on\nset -g destroy-unattached on\nset -g remain-on-exit on\n' >"$HOME/.tmux.conf"
  sac_build tc "$(agent_json tc)"
  launch tc
  stays_true 1 agent_alive tc
  tmux -L sac-tc has-session -t =sac-tc
  kill "$(<"$STUB/agent-tc.pid")"
  wait_for 10 job_ended || { show_job_output; false; }
  refute tmux -L sac-tc has-session -t =sac-tc 2>/dev/null
}

@test "an agent exiting 0 ends the job with status 0" {
  sac_build ok "$(agent_json ok)"
  make_agent ok
  echo "exit 0" >"$STUB/agent-ok.mode"
  install_agent ok
  export SLURM_JOB_ID=101
  start_job "$AGENT_DIR/job.sbatch"
  wait_for 10 job_ended || { show_job_output; false; }
  assert_eq "$(job_status)" 0
}

@test "a killed tmux session ends the held job (non-zero: no agent status)" {
  sac_build gone "$(agent_json gone)"
  launch gone
  tmux -L sac-gone kill-server
  wait_for 5 job_ended || { show_job_output; false; }
  [ "$(job_status)" -ne 0 ]
}

# ---------------------------------------------------------------------------
# Regression tests for bugs found in the templates: they state the correct
# behaviour, and on failure explain the bug (see the known_bug text in each).

@test "job.sbatch: a session that dies before opening the hold fifo must end the job, not hang it until walltime" {
  sac_build nofifo "$(agent_json nofifo)"
  install_agent nofifo
  # Any early death of the pane does it: here session.sh is missing on the node.
  rm -f "$AGENT_DIR/session.sh"
  export SLURM_JOB_ID=101
  start_job "$AGENT_DIR/job.sbatch"
  if ! wait_for 8 job_ended; then
    show_job_output
    echo "tmux: $(tmux -L sac-nofifo ls 2>&1)"
    known_bug "templates/agent-slurm/job.sbatch.jinja (the hold: 'cat \"\$fifo\" >/dev/null &' + h.hold()):
the batch shell waits in 'cat FIFO', which blocks in open() until session.sh opens
the write end ('exec 3>\"\$1\"'). If the pane dies before that line (session.sh
missing/unreadable, HOME unset under set -u, tmux server killed), no writer ever
comes: the job holds its allocation with no tmux server and no agent until walltime,
then its USR1 trap submits a successor that may do the same.
Fix: after 'tmux new-session', wait with a deadline (polling with 'sleep 0.2 & wait \$!')
until session.sh has signalled that it opened the fifo (e.g. it touches
\"\$hold_dir/opened\" right after 'exec 3>'), and if the session is gone first
('! tmux -L \"\$socket\" has-session -t \"=\$session\"'), kill \$hold_pid, log
'session ended before the agent started' and exit 1."
    false
  fi
  [ "$(job_status)" -ne 0 ]
}

@test "job.sbatch: an agent that never ran must fail the job, not report an earlier run's last-exit 0" {
  : >"$HOME/a-file"
  sac_build stale "$(agent_json stale '.spec.workdir = "~/a-file/sub"')"
  install_agent stale
  # An earlier job of the chain ended with its agent exiting 0.
  echo 0 >"$AGENT_DIR/last-exit"
  export SLURM_JOB_ID=102
  start_job "$AGENT_DIR/job.sbatch"
  wait_for 8 job_ended || { show_job_output; false; }
  grep -F "cannot enter workdir" "$AGENT_DIR/job-102.log"
  refute agent_started stale
  if [ "$(job_status)" -eq 0 ]; then
    show_job_output
    known_bug "templates/agent-slurm/job.sbatch.jinja, 'agent_status=\$(cat \"\$dir/last-exit\" 2>/dev/null || echo 1)':
\$dir/last-exit is never removed when a job starts, so when session.sh ends without
running the agent (workdir cannot be entered, pane killed) the job reports the status
of the PREVIOUS job's agent: here 'agent session ended (agent status 0)' and exit 0
(COMPLETED) although the agent never started.
Fix: 'rm -f \"\$dir/last-exit\"' in job.sbatch before 'tmux new-session' (or have
session.sh write last-exit.\$SLURM_JOB_ID and read that one)."
    false
  fi
}

@test "job.sbatch: with no sbatch anywhere the USR1 trap must give up at once, so an agent exit still ends the job" {
  make_path_without_slurm
  sac_build r9 "$(agent_json r9)"
  install_agent r9
  export SLURM_JOB_ID=101
  PATH=$NOSLURM_PATH start_job "$AGENT_DIR/job.sbatch"
  wait_for 5 agent_started r9 || { show_job_output; false; }
  kill -USR1 "$JOB_PID"
  wait_for 2 file_has "$JOB_OUT" "sbatch not found" || { show_job_output; false; }
  # The agent ends right after; its job should end with it.
  kill "$(<"$STUB/agent-r9.pid")"
  if ! wait_for 6 job_ended; then
    show_job_output
    known_bug "templates/lib/sac_resubmit.sh, the retry loop of sac_resubmit:
\$sbatch is looked up once at job start, yet when it is empty the loop still backs off
and retries (2, 4, 8 ... 60 s) until lead-30 s (3570 s by default), logging
'sbatch not found' each time; the trap cannot succeed, and while it runs the batch
shell is not in its hold loop, so an agent that exits meanwhile leaves the job holding
its allocation for up to lead-30 s.
Fix: when \$sbatch is empty, re-resolve it once ('sbatch=\$(sac_slurm sbatch)') and
'break' if still not found; and in the backoff, stop retrying when the hold has
ended ('kill -0 \"\$hold_pid\" || break')."
    false
  fi
}

@test "USR1 with sbatch and squeue warning on stderr at every call: one successor, its id recorded" {
  printf '%s\n' "squeue: warning: Could not find a valid TRES: gres/gpu" \
    "slurm: warning: deprecated option SchedulerParameters=max_switch_wait 300" >"$STUB/slurm.warn"
  sac_build r9 "$(agent_json r9)"
  launch r9
  kill -USR1 "$JOB_PID"
  wait_for 3 file_has "$AGENT_DIR/successor.101" 200 || { show_job_output; false; }
  assert_eq "$(<"$AGENT_DIR/successor.101")" 200
  wait_for 2 file_has "$JOB_OUT" "submitted successor 200"
  kill -USR1 "$JOB_PID"
  wait_for 3 file_has "$JOB_OUT" "already submitted" || { show_job_output; false; }
  assert_eq "$(calls sbatch)" 1
  stays_true 1 job_alive
}

@test "an agent that ends by itself after USR1 (long before walltime): its successor is cancelled, not started again" {
  sac_build sf "$(agent_json sf)"
  launch sf
  kill -USR1 "$JOB_PID"
  wait_for 3 file_has "$AGENT_DIR/successor.101" 200 || { show_job_output; false; }
  kill "$(<"$STUB/agent-sf.pid")"
  wait_for 10 job_ended || { show_job_output; false; }
  grep -F "the agent ended by itself: successor 200 cancelled" "$JOB_OUT"
  assert_eq "$(cat "$STUB/scancel.log")" 200
}

@test "a job told to end (SIGTERM: scancel, preemption, requeue) keeps the successor the walltime signal queued" {
  sac_build si "$(agent_json si)"
  launch si
  kill -USR1 "$JOB_PID"
  wait_for 3 file_has "$AGENT_DIR/successor.101" 200 || { show_job_output; false; }
  kill -TERM "$JOB_PID"
  kill "$(<"$STUB/agent-si.pid")"
  wait_for 10 job_ended || { show_job_output; false; }
  assert_eq "$(calls scancel)" 0
}

@test "an agent that ends by itself before any walltime signal: nothing to cancel" {
  sac_build sg "$(agent_json sg)"
  launch sg
  kill "$(<"$STUB/agent-sg.pid")"
  wait_for 10 job_ended || { show_job_output; false; }
  assert_eq "$(calls scancel)" 0
}

@test "an agent killed at walltime (its job's time is up): the successor is kept" {
  # A walltime of 1 minute: the job is within 120 s of it from the start.
  sac_build sh "$(agent_json sh '.spec.slurm.time_limit = "1" | .spec.slurm.resubmit_before = 30')"
  launch sh
  kill -USR1 "$JOB_PID"
  wait_for 3 file_has "$AGENT_DIR/successor.101" 200 || { show_job_output; false; }
  kill "$(<"$STUB/agent-sh.pid")"
  wait_for 10 job_ended || { show_job_output; false; }
  assert_eq "$(calls scancel)" 0
}

@test "SIGTERM (stop) while the walltime trap waits to retry a failed sbatch: the job ends, nothing more is submitted" {
  echo 1 >"$STUB/sbatch.fail"
  sac_build rt "$(agent_json rt)"
  launch rt
  kill -USR1 "$JOB_PID"
  wait_for 3 file_has "$JOB_OUT" "sbatch failed (attempt 1" || { show_job_output; false; }
  : >"$AGENT_DIR/stopped"
  kill -TERM "$JOB_PID"
  wait_for 3 job_ended || { show_job_output; false; }
  sleep 2.5
  assert_eq "$(calls sbatch)" 1
  [ ! -e "$AGENT_DIR/successor.101" ]
}

@test "a stop's marker written while the walltime trap waits to retry: no second sbatch" {
  echo 1 >"$STUB/sbatch.fail"
  sac_build ru "$(agent_json ru)"
  launch ru
  kill -USR1 "$JOB_PID"
  wait_for 3 file_has "$JOB_OUT" "sbatch failed (attempt 1" || { show_job_output; false; }
  : >"$AGENT_DIR/stopped"
  wait_for 5 file_has "$JOB_OUT" "stopped on purpose: not resubmitting" || { show_job_output; false; }
  assert_eq "$(calls sbatch)" 1
  stays_true 1 job_alive
}

@test "SIGTERM while the walltime trap gives a stop its grace: the job ends at once" {
  sac_build rv "$(agent_json rv)"
  launch rv
  : >"$AGENT_DIR/stopped"
  kill -USR1 "$JOB_PID"
  sleep 0.5
  kill -TERM "$JOB_PID"
  wait_for 3 job_ended || { show_job_output; false; }
  assert_eq "$(calls sbatch)" 0
}

@test "job.sbatch waits for the session of an earlier job of the agent that is still ending on its node (start --force)" {
  sac_build rw "$(agent_json rw)"
  tmux -L sac-rw new-session -d -s sac-rw sleep 1.5
  launch rw
  grep -F "the session of an earlier job of rw is still here; waiting for it to end" "$JOB_OUT"
  agent_alive rw
}
