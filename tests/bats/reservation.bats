#!/usr/bin/env bats
# Reservations: reservation.sbatch run directly (persistent, with a tmux server),
# book.sh, status.sh and release.sh, with stub SLURM commands and the real tmux.
# SC2016/SC1003: hostile values and jq programs are single-quoted on purpose;
# SC2030/SC2031: each test exports its own SLURM_* variables on purpose.
# shellcheck disable=SC2016,SC1003,SC2030,SC2031

load helpers

HOLD_BODY='export HOLD_VAR="set by the hold body: $((6 * 7))"
'

setup() {
  sac_setup
  res=$(jq -n --arg hb "$HOLD_BODY" '{apiVersion: "scitex-agent-container/v3", kind: "Reservation",
      spec: {host: "localhost", cpus: 2, mem: "4G", time: "1-0", tmux_server: "srv",
             persistent: true, resubmit_before: 600, hold_body: $hb}}')
  sac_build rpool "$res"
  RES_BUILT=$BUILT
  make_agent ten
  ten=$(jq -n --arg cmd "$AGENT" '{apiVersion: "scitex-agent-container/v3", kind: "Agent",
      spec: {runtime: "slurm-tenant", model: "sonnet", restart: {policy: "never"},
             claude: {command: $cmd, flags: ["--x", "two words", ""]},
             slurm: {reservation: "rpool"}}}')
  sac_build ten "$ten"
  TEN_BUILT=$BUILT
  RESDIR="$SAC_REMOTE_HOME/reservations/rpool"
}
teardown() { sac_teardown; }

# The reservation's folder as book.sh leaves it, with tenant "ten" on the
# manifest and its session.sh in place (as its start.sh left it).
prepare_reservation() {
  mkdir -p "$RESDIR/tenants" "$SAC_REMOTE_HOME/agents/ten"
  cp "$RES_BUILT/reservation.sbatch" "$RESDIR/reservation.sbatch"
  printf '%s' "$HOLD_BODY" >"$RESDIR/hold_body.sh"
  echo srv >"$RESDIR/tmux_server"
  echo true >"$RESDIR/persistent"
  cp "$TEN_BUILT/session.sh" "$SAC_REMOTE_HOME/agents/ten/session.sh"
  : >"$RESDIR/tenants/ten"
  squeue_add sac-res-rpool 301 RUNNING node1
}

server_up() { tmux -L srv has-session -t =_root 2>/dev/null; }
tenant_up() { tmux -L srv has-session -t =sac-ten 2>/dev/null; }

start_reservation() {
  prepare_reservation
  export SLURM_JOB_ID=301 SLURM_JOB_NAME=sac-res-rpool
  start_job "$RESDIR/reservation.sbatch" res
  wait_for 5 is_file "$RESDIR/running.301" || { show_job_output; false; }
}

@test "reservation.sbatch starts _root, relaunches the manifest's tenants, writes running.<job>" {
  start_reservation
  assert_eq "$(<"$RESDIR/running.301")" "$(hostname)"
  server_up
  tenant_up
  wait_for 5 agent_started ten || { show_job_output; false; }
  assert_argv ten --model sonnet --x "two words" ""
  # The hold body's environment reaches the tenants through the tmux server.
  assert_env ten HOLD_VAR "set by the hold body: 42"
  grep -F "relaunched tenant ten" "$JOB_OUT"
  file_has "$RESDIR/jobs" 301
  job_alive
}

@test "a hold body may use every name but sac_*: the server starts, the tenants are relaunched, running.<job> and the successor land in the reservation's folder" {
  prepare_reservation
  clobbering_hook "$RESDIR/hold_body.sh"
  printf '%s' "$HOLD_BODY" >>"$RESDIR/hold_body.sh"
  export SLURM_JOB_ID=301 SLURM_JOB_NAME=sac-res-rpool
  start_job "$RESDIR/reservation.sbatch" res
  wait_for 5 is_file "$RESDIR/running.301" || { show_job_output; false; }
  server_up
  wait_for 5 agent_started ten || { show_job_output; false; }
  assert_env ten HOLD_VAR "set by the hold body: 42"
  grep -F "relaunched tenant ten" "$JOB_OUT"
  kill -USR1 "$JOB_PID"
  wait_for 2 count_is sbatch 1 || { show_job_output; false; }
  argv="$STUB/sbatch.argv.1"
  has_word "$argv" --job-name=sac-res-rpool
  has_word "$argv" "--chdir=$RESDIR"
  assert_eq "$(last_word "$argv")" "$RESDIR/reservation.sbatch"
  wait_for 2 file_has "$RESDIR/successor.301" 200 || { show_job_output; false; }
  stays_true 1 job_alive
  ! grep -F clobbered "$JOB_OUT"
}

@test "reservation.sbatch with a tmux.conf that ends detached sessions and keeps dead panes: the server and tenants stay; a tenant that ends is gone" {
  printf 'set -g exit-unattached on\nset -g destroy-unattached on\nset -g remain-on-exit on\n' >"$HOME/.tmux.conf"
  start_reservation
  wait_for 5 agent_started ten || { show_job_output; false; }
  stays_true 1 server_up
  tenant_up
  kill "$(<"$STUB/agent-ten.pid")"
  wait_for 5 refute tenant_up || { tmux -L srv list-panes -a -F '#{session_name} dead=#{pane_dead}'; false; }
  server_up
}

@test "reservation.sbatch on USR1 submits one successor and keeps running (job, tmux server, tenants)" {
  start_reservation
  wait_for 5 agent_started ten
  kill -USR1 "$JOB_PID"
  wait_for 2 count_is sbatch 1 || { show_job_output; false; }
  argv="$STUB/sbatch.argv.1"
  has_word "$argv" --parsable
  has_word "$argv" --dependency=singleton
  has_word "$argv" --job-name=sac-res-rpool
  has_word "$argv" "--chdir=$RESDIR"
  assert_eq "$(last_word "$argv")" "$RESDIR/reservation.sbatch"
  wait_for 2 file_has "$RESDIR/successor.301" 200 || { show_job_output; false; }
  # The trap has returned; the job must hold again until its walltime.
  stays_true 2 job_alive || { show_job_output; false; }
  server_up
  tenant_up
  agent_alive ten
  # A second USR1: no second successor.
  kill -USR1 "$JOB_PID"
  wait_for 2 file_has "$JOB_OUT" "already submitted"
  stays_true 1 job_alive
  assert_eq "$(calls sbatch)" 1
}

@test "reservation.sbatch: a tenant taken off the manifest is not relaunched" {
  prepare_reservation
  rm -f "$RESDIR/tenants/ten"
  export SLURM_JOB_ID=301
  start_job "$RESDIR/reservation.sbatch" res
  wait_for 5 is_file "$RESDIR/running.301"
  server_up
  refute tenant_up
}

@test "reservation.sbatch of a released reservation (a successor that came in after the release): serves nothing" {
  prepare_reservation
  : >"$RESDIR/stopped"
  export SLURM_JOB_ID=302
  start_job "$RESDIR/reservation.sbatch" res
  wait_for 10 job_ended || { show_job_output; false; }
  [ "$(job_status)" -eq 0 ]
  grep -F "was released: this job ends without serving" "$JOB_OUT"
  refute server_up
  [ ! -e "$RESDIR/running.302" ]
}

@test "reservation.sbatch that cannot start its tmux server: fails, no running file" {
  prepare_reservation
  # tmux refuses a socket directory that others may write to.
  mkdir -p "$TMUX_TMPDIR/tmux-$(id -u)"
  chmod 777 "$TMUX_TMPDIR/tmux-$(id -u)"
  export SLURM_JOB_ID=301
  start_job "$RESDIR/reservation.sbatch" res
  wait_for 10 job_ended || { show_job_output; false; }
  [ "$(job_status)" -ne 0 ]
  grep -F "could not start tmux server srv" "$JOB_OUT"
  [ ! -e "$RESDIR/running.301" ]
  grep -F "(another reservation on that node may use the same name: book with --tmux-server <another name>" "$RESDIR/failed.301"
  # Once the job is gone, status says why it ended.
  : >"$STUB/squeue.state"
  run bash "$RES_BUILT/status.sh"
  [ "$status" -eq 0 ]
  result_json
  jcheck '.state == "ABSENT" and (.failed | startswith("job 301: could not start tmux server srv on "))'
}

@test "book.sh 0: writes the job script, tmux_server, persistent and hold body, submits once" {
  mkdir -p "$RESDIR/tenants"
  : >"$RESDIR/tenants/old"
  run bash "$RES_BUILT/book.sh" 0
  [ "$status" -eq 0 ]
  result_json
  jcheck '.ok == true and .job_id == "200" and .state == "PENDING"'
  cmp "$RES_BUILT/reservation.sbatch" "$RESDIR/reservation.sbatch"
  assert_eq "$(<"$RESDIR/tmux_server")" srv
  assert_eq "$(<"$RESDIR/persistent")" true
  assert_eq "$(cat "$RESDIR/hold_body.sh")" "${HOLD_BODY%$'\n'}"
  [ ! -e "$RESDIR/tenants/old" ]
  assert_eq "$(calls sbatch)" 1
  assert_eq "$(last_word "$STUB/sbatch.argv.1")" "$RESDIR/reservation.sbatch"
}

@test "book.sh: the login shell's SBATCH_* settings never override sac's options or the reservation's" {
  export SBATCH_JOB_NAME=other SBATCH_MEM_PER_CPU=1G SBATCH_TIMELIMIT=5 SBATCH_ACCOUNT=lab SQUEUE_STATES=all
  run bash "$RES_BUILT/book.sh" 0
  [ "$status" -eq 0 ]
  assert_eq "$(cat "$STUB/sbatch.env.1")" "SBATCH_ACCOUNT=lab"
  [ ! -s "$STUB/squeue.env" ]
}

@test "book.sh waits for the job's running file, then reports RUNNING on its node" {
  (bash "$RES_BUILT/book.sh" 10 >"$SAC_T/book.out" 2>&1 3>&-; echo "$?" >"$SAC_T/book.rc") &
  SAC_WRAPPERS+=("$!")
  wait_for 5 count_is sbatch 1
  squeue_add sac-res-rpool 200 RUNNING node9
  echo node9 >"$RESDIR/running.200"
  wait_for 8 is_file "$SAC_T/book.rc"
  assert_eq "$(<"$SAC_T/book.rc")" 0
  output=$(<"$SAC_T/book.out")
  result_json
  jcheck '.ok == true and .job_id == "200" and .state == "RUNNING" and .node == "node9"'
}

@test "book.sh while it waits: the job id at once, then its state and reason on each change, as progress lines" {
  (bash "$RES_BUILT/book.sh" 30 >"$SAC_T/book.out" 2>&1 3>&-; echo "$?" >"$SAC_T/book.rc") &
  SAC_WRAPPERS+=("$!")
  wait_for 5 grep -qxF '@sac-progress {"job_id":"200","state":"PENDING","reason":"Dependency"}' "$SAC_T/book.out"
  assert_eq "$(grep -m1 '^@sac-progress ' "$SAC_T/book.out")" '@sac-progress {"job_id":"200"}'
  # The reason changes: said once more (squeue is asked every 5 s, not more).
  sed -i 's/^sac-res-rpool|200|PENDING|(null)|1:00:00|Dependency$/sac-res-rpool|200|PENDING|(null)|1:00:00|Resources/' "$STUB/squeue.state"
  wait_for 12 grep -qxF '@sac-progress {"job_id":"200","state":"PENDING","reason":"Resources"}' "$SAC_T/book.out"
  assert_eq "$(grep -c '^@sac-progress ' "$SAC_T/book.out")" 3
  (($(grep -c -- '-j 200' "$STUB/squeue.log") <= 3))
  echo node9 >"$RESDIR/running.200"
  wait_for 8 is_file "$SAC_T/book.rc"
  assert_eq "$(<"$SAC_T/book.rc")" 0
  output=$(<"$SAC_T/book.out")
  result_json
  jcheck '.ok == true and .job_id == "200" and .state == "RUNNING"'
}

@test "book.sh when the reservation is already live: refuses, no sbatch" {
  squeue_add sac-res-rpool 301 RUNNING node1
  run bash "$RES_BUILT/book.sh" 0
  [ "$status" -eq 1 ]
  result_json
  jcheck '.ok == false and .already == true and .job_id == "301"'
  assert_eq "$(calls sbatch)" 0
}

@test "reservation status.sh: RUNNING with the tenants' sessions; UNKNOWN when squeue fails" {
  start_reservation
  wait_for 5 agent_started ten
  run bash "$RES_BUILT/status.sh"
  [ "$status" -eq 0 ]
  result_json
  jcheck '.state == "RUNNING" and .job_id == "301" and .tmux_server == "srv" and .persistent == true and .tenants == ["ten"] and .sessions == ["ten"]'
  : >"$STUB/squeue.fail"
  run bash "$RES_BUILT/status.sh"
  [ "$status" -eq 1 ]
  result_json
  jcheck '.state == "UNKNOWN"'
}

@test "release.sh: stopped marker, manifest emptied, chain cancelled by name" {
  prepare_reservation
  squeue_add sac-res-rpool 302 PENDING ""
  run bash "$RES_BUILT/release.sh"
  [ "$status" -eq 0 ]
  result_json
  jcheck '.ok == true and .cancelled == ["301", "302"]'
  [ -e "$RESDIR/stopped" ]
  [ ! -e "$RESDIR/tenants/ten" ]
  assert_eq "$(cat "$STUB/scancel.log")" "-u $SAC_USER -n sac-res-rpool"
}

@test "release.sh keeps each running tenant's last screen in its agent.log, in one step, before it cancels" {
  echo "say the screen before the release" >"$STUB/agent-ten.mode"
  start_reservation
  wait_for 5 agent_started ten || { show_job_output; false; }
  wait_for 3 eval 'tmux -L srv capture-pane -p -t =sac-ten: | grep -qF "the screen before the release"'
  : >"$STUB/srun.log"
  echo srv >"$STUB/scancel.kills_tmux"
  run bash "$RES_BUILT/release.sh"
  [ "$status" -eq 0 ]
  result_json
  jcheck '.ok == true and .cancelled == ["301"]'
  assert_eq "$(grep -c -- '--jobid=301' "$STUB/srun.log")" 1
  assert_eq "$(calls squeue)" 1
  log="$SAC_REMOTE_HOME/agents/ten/agent.log"
  grep -F "[sac] agent ten: its last screen before sac reservations release:" "$log"
  grep -F "the screen before the release" "$log"
}

@test "release.sh that fails (squeue, then scancel): the marker is taken back, the manifest kept" {
  prepare_reservation
  : >"$STUB/squeue.fail"
  run bash "$RES_BUILT/release.sh"
  [ "$status" -eq 1 ]
  [ ! -e "$RESDIR/stopped" ]
  [ -e "$RESDIR/tenants/ten" ]
  rm "$STUB/squeue.fail"
  : >"$STUB/scancel.fail"
  run bash "$RES_BUILT/release.sh"
  [ "$status" -eq 1 ]
  [ ! -e "$RESDIR/stopped" ]
  [ -e "$RESDIR/tenants/ten" ]
  # A marker that was there before (an earlier release) stays.
  : >"$RESDIR/stopped"
  run bash "$RES_BUILT/release.sh"
  [ "$status" -eq 1 ]
  [ -e "$RESDIR/stopped" ]
}

@test "reservation.sbatch whose hold body exits: failed.<job> says so at once, and book.sh reports it" {
  prepare_reservation
  printf 'echo loading modules\nexit 3\n' >"$RESDIR/hold_body.sh"
  export SLURM_JOB_ID=301
  start_job "$RESDIR/reservation.sbatch" res
  wait_for 10 job_ended || { show_job_output; false; }
  [ ! -e "$RESDIR/running.301" ]
  grep -F "ended (status 3) before its tmux server ran" "$RESDIR/failed.301"
  # book.sh, waiting for its job, is told at once.
  rm -f "$RESDIR/failed.301"
  : >"$STUB/squeue.state"
  echo 301 >"$STUB/sbatch.next_id"
  (set +e; bash "$RES_BUILT/book.sh" 60 >"$SAC_T/book.out" 2>&1 3>&-; echo "$?" >"$SAC_T/book.rc") &
  SAC_WRAPPERS+=("$!")
  wait_for 5 count_is sbatch 1
  printf 'echo loading modules\nexit 3\n' >"$RESDIR/hold_body.sh"
  start_job "$RESDIR/reservation.sbatch" res
  wait_for 10 is_file "$SAC_T/book.rc" || { show_job_output; false; }
  assert_eq "$(<"$SAC_T/book.rc")" 1
  output=$(<"$SAC_T/book.out")
  result_json
  jcheck '.ok == false and (.error | contains("reservation job 301 failed: it ended (status 3) before its tmux server ran"))'
}

@test "book.sh right after a release, the old job still COMPLETING: not yet, and says so; a pending or running one is live" {
  squeue_add sac-res-rpool 301 COMPLETING node1
  run bash "$RES_BUILT/book.sh" 0
  [ "$status" -eq 1 ]
  result_json
  jcheck '.ok == false and (.error | contains("its last job 301 is still ending (COMPLETING); book it again in a moment"))'
  assert_eq "$(calls sbatch)" 0
  # But a job that is pending or running beside it is live.
  squeue_add sac-res-rpool 302 PENDING ""
  run bash "$RES_BUILT/book.sh" 0
  [ "$status" -eq 1 ]
  result_json
  jcheck '.already == true'
}

@test "reservation.sbatch cancelled in its hold body: failed.<job> says it was told to end, not a status 0" {
  prepare_reservation
  printf 'sleep 30\n' >"$RESDIR/hold_body.sh"
  export SLURM_JOB_ID=301
  start_job "$RESDIR/reservation.sbatch" res
  wait_for 5 file_has "$RESDIR/jobs" 301
  sleep 0.5
  kill -TERM -- "-$JOB_PID"
  wait_for 10 job_ended || { show_job_output; false; }
  grep -F "it was told to end (SIGTERM: cancelled, or out of time) before its tmux server ran" "$RESDIR/failed.301"
}
