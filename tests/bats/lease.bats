#!/usr/bin/env bats
# lease exec and lease attach: a reservation's exec.sh and attach.sh run
# directly, with stub SLURM commands.
# SC2016: the stub scripts and patterns are single-quoted on purpose.
# shellcheck disable=SC2016

bats_require_minimum_version 1.5.0
load helpers

MARK=0123456789abcdef0123456789abcdef

setup() {
  sac_setup
  sac_build rpool '{"apiVersion": "scitex-agent-container/v3", "kind": "Reservation",
                    "spec": {"host": "localhost", "tmux_server": "srv"}}'
  EXEC=$BUILT/exec.sh
  ATTACH=$BUILT/attach.sh
}
teardown() { sac_teardown; }

# A job whose %N is a list of nodes, and an scontrol that expands it (as SLURM
# would), and an srun that runs the step's command on any node.
multi_node() {
  squeue_add sac-res-rpool 301 RUNNING 'n[1-2],gpu3'
  cat >"$STUB_BIN/scontrol" <<'STUB'
#!/usr/bin/env bash
printf '%s\n' "$*" >>"$STUB/scontrol.log"
[[ "$1 $2" == 'show hostnames' && $3 == 'n[1-2],gpu3' ]] || { echo "scontrol stub: $*" >&2; exit 1; }
printf 'n1\nn2\ngpu3\n'
STUB
  cat >"$STUB_BIN/srun" <<'STUB'
#!/usr/bin/env bash
printf '%s\n' "$*" >>"$STUB/srun.log"
while [[ $1 == -* ]]; do [[ $1 == -w ]] && shift; shift; done
exec "$@"
STUB
  chmod +x "$STUB_BIN/scontrol" "$STUB_BIN/srun"
}

@test "exec.sh: the command's bytes and exit status between the marks, in a step on the job's node" {
  squeue_add sac-res-rpool 301 RUNNING node1
  run --separate-stderr bash "$EXEC" "$MARK" "" 0 sh -c 'printf "%s|" "$@"; echo to-stderr >&2; exit 7' sh \
    'two words' '' '$(id)' 'new
line' --node
  assert_eq "$status" 0
  assert_eq "$output" "$(printf '@sac-exec %s\ntwo words||$(id)|new\nline|--node|@sac-exit %s 7' "$MARK" "$MARK")"
  assert_eq "$stderr" to-stderr
  grep -qF -- '--jobid=301 --overlap -n1 -N1 -w node1 --quiet' "$STUB/srun.log"
}

@test "exec.sh: the command runs as a program (exec), or with LOGIN 1 from a login shell" {
  squeue_add sac-res-rpool 301 RUNNING node1
  run bash "$EXEC" "$MARK" "" 0 shopt -q login_shell
  [[ $output == *"@sac-exit $MARK 127" ]]
  run bash "$EXEC" "$MARK" "" 1 shopt -q login_shell
  [[ $output == *"@sac-exit $MARK 0" ]]
}

@test "exec.sh: a reservation that is not running is sac's failure, and no step is tried" {
  squeue_add sac-res-rpool 301 PENDING
  run bash "$EXEC" "$MARK" "" 0 true
  assert_eq "$status" 1
  result_json
  jcheck '.ok == false and .status == 1'
  jcheck '.error | test("^reservation .rpool. is not running on .* [(]job 301 PENDING[)]$")'
  assert_eq "$(calls srun)" 0
  [[ $output != *"@sac-exec"* ]]
  : >"$STUB/squeue.state"
  run bash "$EXEC" "$MARK" "" 0 true
  result_json
  jcheck '.error | test("[(]no job of it is queued or running[)]$")'
}

@test "exec.sh: squeue that cannot be asked is said, never read as not running" {
  : >"$STUB/squeue.fail"
  run bash "$EXEC" "$MARK" "" 0 true
  assert_eq "$status" 1
  result_json
  jcheck '.error | startswith("could not ask squeue on ")'
}

@test "exec.sh: a step that cannot start prints no start mark, and srun's status" {
  squeue_add sac-res-rpool 301 RUNNING node1
  : >"$STUB/srun.fail"
  run --separate-stderr bash "$EXEC" "$MARK" "" 0 true
  assert_eq "$status" 1
  [[ $output != *"@sac-"* && $stderr == *"Unable to create step"* ]]
}

@test "exec.sh: --node is one of the job's nodes (a list, expanded), else a usage failure naming them" {
  multi_node
  run bash "$EXEC" "$MARK" "" 0 true
  [[ $output == *"@sac-exit $MARK 0" ]]
  grep -q -- '-w n1 ' "$STUB/srun.log"
  run bash "$EXEC" "$MARK" gpu3 0 true
  [[ $output == *"@sac-exit $MARK 0" ]]
  grep -q -- '-w gpu3 ' "$STUB/srun.log"
  run bash "$EXEC" "$MARK" n4 0 true
  assert_eq "$status" 2
  result_json
  jcheck '.status == 2 and .error == "--node n4 is not a node of reservation '"'"'rpool'"'"' (job 301 runs on n1, n2, gpu3)"'
  assert_eq "$(calls srun)" 2
  # A list scontrol cannot expand: said, and no step.
  printf '#!/bin/sh\necho "scontrol: error: boom" >&2; exit 1\n' >"$STUB_BIN/scontrol"
  run bash "$EXEC" "$MARK" "" 0 true
  assert_eq "$status" 1
  result_json
  jcheck '.error == "cannot list the nodes of job 301 (n[1-2],gpu3): scontrol: error: boom"'
  assert_eq "$(calls srun)" 2
}

@test "attach.sh: a login shell in a pty step on the node; refused when the pool is not running" {
  squeue_add sac-res-rpool 301 RUNNING node1
  SHELL=/bin/true run bash "$ATTACH" ""
  assert_eq "$status" 0
  grep -qF -- '--jobid=301 --overlap -n1 -N1 -w node1 --quiet --pty bash -c' "$STUB/srun.log"
  run bash "$ATTACH" node2
  assert_eq "$status" 2
  [[ $output == "sac: --node node2 is not a node of reservation 'rpool' (job 301 runs on node1)" ]]
  : >"$STUB/squeue.state"
  run bash "$ATTACH" ""
  assert_eq "$status" 1
  [[ $output == "sac: reservation 'rpool' is not running on "*"(no job of it is queued or running)" ]]
}
