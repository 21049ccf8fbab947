# Common setup for the bats tests of the generated scripts.
#
# Every test gets, under $BATS_TEST_TMPDIR:
#   home/      HOME (the "cluster" home; ~ in a spec expands to it)
#   remote/    SAC_REMOTE_HOME (agents/<name>, reservations/<pool>)
#   tmux/      TMUX_TMPDIR: every tmux server a test starts has its socket here
#   tmp/       TMPDIR (job.sbatch makes its hold fifo here)
#   bin/       stub SLURM commands (sbatch squeue scancel srun sinfo), first on PATH
#   stub/      the stubs' configuration and records
#   agent bin/ stub agent programs (the path has a space on purpose)
#
# The stubs are configured by files in $STUB (see the stub texts below) and
# record every call. tmux is the real one.
#
# Loaded with `load helpers` from each .bats file.
#
# SC2034: the globals set here are read by the .bats files; SC2154: `output` is
# set by bats' run; SC2016: single quotes keep values literal on purpose.
# shellcheck disable=SC2034,SC2154,SC2016

SAC_REPO=$(cd "$BATS_TEST_DIRNAME/../.." && pwd)
# The compiler under test; SACGEN=/path/to/sacgen tests another one.
SACGEN=${SACGEN:-sacgen}

sac_setup() {
  SAC_T=$BATS_TEST_TMPDIR
  export HOME="$SAC_T/home"
  export SAC_REMOTE_HOME="$SAC_T/remote"
  export TMUX_TMPDIR="$SAC_T/tmux"
  export TMPDIR="$SAC_T/tmp"
  export STUB="$SAC_T/stub"
  export STUB_BIN="$SAC_T/bin"
  AGENT_BIN="$SAC_T/agent bin"
  mkdir -p "$HOME" "$SAC_REMOTE_HOME" "$TMUX_TMPDIR" "$TMPDIR" "$STUB" "$STUB_BIN" "$AGENT_BIN"
  # Never talk to a tmux server outside the test's TMUX_TMPDIR.
  unset TMUX TMUX_PANE SAC_SLURM_BIN
  unset SLURM_JOB_ID SLURM_JOBID SLURM_JOB_NAME SLURMD_NODENAME SLURM_SUBMIT_DIR
  export PATH="$STUB_BIN:$PATH"
  ORIG_PATH=$PATH
  SAC_USER=$(id -un)
  SAC_WRAPPERS=()
  SAC_JOB_PIDS=()
  write_slurm_stubs "$STUB_BIN"
  # A queue with nothing in it; the sbatch stub hands out ids from 200 up.
  : >"$STUB/squeue.state"
}

sac_teardown() {
  local pid sock f
  # Batch jobs: each runs in its own session and process group (setsid), so
  # the group id is the job's pid; this ends the job and its `cat`/`sleep`.
  for pid in "${SAC_JOB_PIDS[@]}"; do
    kill -TERM -- "-$pid" 2>/dev/null || true
  done
  # Only the servers whose sockets are in this test's TMUX_TMPDIR.
  for sock in "$TMUX_TMPDIR"/tmux-"$(id -u)"/*; do
    [[ -S $sock ]] && tmux -S "$sock" kill-server 2>/dev/null
  done
  # Stub agents (their pid files hold the pid of the `sleep` they exec'd).
  for f in "$STUB"/agent-*.pid; do
    [[ -r $f ]] && kill -TERM "$(<"$f")" 2>/dev/null
  done
  for pid in "${SAC_WRAPPERS[@]}"; do
    kill -TERM "$pid" 2>/dev/null || true
  done
  true
}

# ---------------------------------------------------------------------------
# Waiting with a deadline.

_now_us() { local t=${EPOCHREALTIME//[.,]/}; printf '%s' "$((10#$t))"; }

# wait_for SECONDS CMD...: poll CMD every 50 ms until it succeeds; fail at the deadline.
wait_for() {
  local limit=$1 s f us end
  shift
  s=${limit%.*}
  f=0
  [[ $limit == *.* ]] && f=${limit#*.}
  f="${f}000000"
  us=$((s * 1000000 + 10#${f:0:6}))
  end=$(($(_now_us) + us))
  until "$@"; do
    if (($(_now_us) > end)); then
      echo "timed out after ${limit}s waiting for: $*" >&2
      return 1
    fi
    sleep 0.05
  done
}

# stays_true SECONDS CMD...: CMD keeps succeeding for the whole period.
stays_true() {
  local limit=$1 end
  shift
  end=$(($(_now_us) + ${limit%.*} * 1000000))
  while (($(_now_us) < end)); do
    "$@" || { echo "stopped holding: $*" >&2; return 1; }
    sleep 0.1
  done
}

file_has() { [[ -e $1 ]] && grep -qF -- "$2" "$1"; }
is_file() { [[ -e $1 ]]; }
count_is() { [[ $(calls "$1") == "$2" ]]; }

# ---------------------------------------------------------------------------
# Building scripts.

# sac_build NAME JSON: write JSON (valid YAML) as NAME.yaml and build it; sets BUILT
# to the folder with NAME's scripts.
sac_build() {
  local name=$1 json=$2 out
  mkdir -p "$SAC_T/yaml"
  printf '%s\n' "$json" >"$SAC_T/yaml/$name.yaml"
  out="$SAC_T/build-$name"
  if ! "$SACGEN" build "$SAC_T/yaml/$name.yaml" -o "$out" >"$SAC_T/build-$name.log" 2>&1; then
    cat "$SAC_T/build-$name.log" >&2
    return 1
  fi
  BUILT="$out/$name"
}

# install_agent NAME: put the built job.sbatch/session.sh where start.sh would.
install_agent() {
  local name=$1 dir="$SAC_REMOTE_HOME/agents/$1" f
  mkdir -p "$dir"
  for f in job.sbatch session.sh; do
    [[ -e $BUILT/$f ]] && cp "$BUILT/$f" "$dir/$f" && chmod 700 "$dir/$f"
  done
  AGENT_DIR=$dir
}

# ---------------------------------------------------------------------------
# Running a batch script as SLURM would: in the background, in its own session
# and process group. Sets JOB_PID (the batch shell's pid); the exit status goes
# to $SAC_T/job.rc when it ends, its output to $JOB_OUT.

start_job() {
  local script=$1 tag=${2:-job}
  JOB_OUT="$SAC_T/$tag.out"
  JOB_RC="$SAC_T/$tag.rc"
  local pidf="$SAC_T/$tag.pid"
  rm -f "$pidf" "$JOB_RC"
  (
    set +e # (bats runs tests under set -e; a failing job is a result here)
    setsid bash -c 'echo "$$" >"$1"; cd "$2" && exec bash "$3"' _ "$pidf" "${script%/*}" "$script"
    echo "$?" >"$JOB_RC"
  ) </dev/null >"$JOB_OUT" 2>&1 3>&- &
  SAC_WRAPPERS+=("$!")
  wait_for 5 test -s "$pidf" || return 1
  JOB_PID=$(<"$pidf")
  SAC_JOB_PIDS+=("$JOB_PID")
  # Teardown ends the job by its process group: it must lead its own.
  local pgid
  pgid=$(ps -o pgid= -p "$JOB_PID" | tr -d ' ')
  [[ -z $pgid || $pgid == "$JOB_PID" ]] || { echo "job $JOB_PID is in process group $pgid" >&2; return 1; }
}

job_alive() { [[ ! -e $JOB_RC ]] && kill -0 "$JOB_PID" 2>/dev/null; }
job_ended() { [[ -s $JOB_RC ]]; }
job_status() { cat "$JOB_RC"; }
show_job_output() { echo "--- job output:"; cat "$JOB_OUT" 2>/dev/null; echo "---"; }

# ---------------------------------------------------------------------------
# The stub agent: records argv (NUL-separated), env (env -0) and pwd, then
# `exec sleep 300` or exits as $STUB/agent-NAME.mode says ("exit N").

# make_agent TAG: writes "$AGENT_BIN/TAG"; sets AGENT to its absolute path.
make_agent() {
  local tag=$1
  AGENT="$AGENT_BIN/$tag"
  {
    echo '#!/usr/bin/env bash'
    printf 'r=%q\n' "$STUB/agent-$tag"
    cat <<'EOF'
printf '%s\0' "$@" >"$r.argv.tmp"
env -0 >"$r.env.tmp"
printf '%s\n' "$PWD" >"$r.pwd.tmp"
mv "$r.argv.tmp" "$r.argv"; mv "$r.env.tmp" "$r.env"; mv "$r.pwd.tmp" "$r.pwd"
echo x >>"$r.starts"
echo "$$" >"$r.pid"
mode=$(cat "$r.mode" 2>/dev/null || echo sleep)
case $mode in
  exit\ *) exit "${mode#exit }" ;;
  say\ *) printf '%s\n' "${mode#say }"; exec sleep 300 ;;
  *) exec sleep 300 ;;
esac
EOF
  } >"$AGENT"
  chmod +x "$AGENT"
}

agent_started() { [[ -s $STUB/agent-$1.pid ]]; }
agent_alive() { [[ -s $STUB/agent-$1.pid ]] && kill -0 "$(<"$STUB/agent-$1.pid")" 2>/dev/null; }
agent_dead() { ! agent_alive "$1"; }

# assert_argv TAG WORD...: the agent got exactly these argv words, byte for byte.
assert_argv() {
  local tag=$1
  shift
  printf '%s\0' "$@" >"$SAC_T/expected-argv"
  if ! cmp -s "$SAC_T/expected-argv" "$STUB/agent-$tag.argv"; then
    echo "argv differs. expected:"
    od -c "$SAC_T/expected-argv" | head -40
    echo "got:"
    od -c "$STUB/agent-$tag.argv" | head -40
    return 1
  fi
}

# agent_env TAG NAME: sets ENV_VALUE and returns 0 when NAME is in the agent's env.
agent_env() {
  local kv
  ENV_VALUE=""
  while IFS= read -r -d '' kv; do
    if [[ $kv == "$2="* ]]; then
      ENV_VALUE=${kv#"$2="}
      return 0
    fi
  done <"$STUB/agent-$1.env"
  return 1
}

# assert_env TAG NAME VALUE
assert_env() {
  if ! agent_env "$1" "$2"; then
    echo "$2 is not in the agent's environment"
    return 1
  fi
  if [[ $ENV_VALUE != "$3" ]]; then
    printf 'env %s: expected %q, got %q\n' "$2" "$3" "$ENV_VALUE"
    return 1
  fi
}

# ---------------------------------------------------------------------------
# The @sac-result line.

# result_json: the last line of $output must be the result; sets RESULT.
result_json() {
  local last=${output##*$'\n'}
  if [[ $last != '@sac-result '* ]]; then
    printf 'last line is not a result line: %q\nfull output:\n%s\n' "$last" "$output"
    return 1
  fi
  RESULT=${last#@sac-result }
  jq -e . >/dev/null <<<"$RESULT" || { echo "result is not JSON: $RESULT"; return 1; }
}

# jcheck JQ_EXPR [JQ_OPTIONS...]: the expression is true of RESULT
# (e.g. jcheck '.dir == $d' --arg d "$DIR").
jcheck() {
  if ! jq -e "${@:2}" "$1" >/dev/null <<<"$RESULT"; then
    echo "result check failed: $1"
    echo "result: $RESULT"
    return 1
  fi
}

assert_eq() {
  if [[ $1 != "$2" ]]; then
    printf 'expected %q\n     got %q\n' "$2" "$1"
    return 1
  fi
}

# ---------------------------------------------------------------------------
# Stub SLURM commands.
#
#   sbatch   every call: $STUB/sbatch.log (one line), $STUB/sbatch.argv.N (NUL-separated).
#            $STUB/sbatch.fail holds N: fail the next N calls (submitting nothing).
#            $STUB/sbatch.fail_submitted exists: the next call submits (queues the
#            job in squeue.state) and still exits 1, then the file is removed.
#            $STUB/sbatch.no_queue exists: successful submissions do not show in squeue.
#            $STUB/sbatch.delay holds S: each call takes S seconds before it queues the job.
#            $STUB/sbatch.env.N: the SBATCH_* variables call N saw.
#            Otherwise prints the next id (200, 201, ...) and queues it PENDING.
#   squeue   $STUB/squeue.state lines "JOBNAME|id|state|node|time_left|reason";
#            prints the lines of the job name given with -n, without the name.
#            $STUB/squeue.fail exists: fails like an unreachable slurmctld.
#            $STUB/squeue.fail_after holds N: N more calls answer, then it fails.
#            $STUB/squeue.env: the SQUEUE_* variables every call saw.
#            Insists on the output format the scripts are written for.
#   scancel  records to $STUB/scancel.log; $STUB/scancel.fail: fails;
#            $STUB/scancel.kills_tmux holds SOCKET: kills that tmux server (as a cancel would).
#   srun     $STUB/srun.hang holds S: every step hangs S seconds.
#   srun     records to $STUB/srun.log, strips its options, execs the command here;
#            as SLURM, only into a RUNNING job of squeue.state, on its node (-w);
#            into a SUSPENDED one it waits (here: for ever) unless --immediate;
#            $STUB/srun.fail: fails like a job that cannot take a step.
#            $STUB/srun.linger holds S: the step ends S seconds after its command.
#   sinfo    records; prints "mixed" (for -N: node7 mixed, node8 idle).
#   $STUB/slurm.warn exists: sbatch and squeue write its text to stderr on every
#            call, before and after their output, as a site's may (a deprecated
#            option in slurm.conf, a TRES it does not know).

write_slurm_stubs() {
  local bin=$1
  _stub() {
    {
      echo '#!/usr/bin/env bash'
      printf 'd=%q\n' "$STUB"
      cat
    } >"$bin/$1"
    chmod +x "$bin/$1"
  }
  _stub sbatch <<'EOF'
[[ ! -e $d/slurm.warn ]] || cat "$d/slurm.warn" >&2
exec 9>>"$d/sbatch.lock"; flock 9
n=$(($(cat "$d/sbatch.count" 2>/dev/null || echo 0) + 1))
echo "$n" >"$d/sbatch.count"
printf '%s\0' "$@" >"$d/sbatch.argv.$n"
printf '%s\n' "$*" >>"$d/sbatch.log"
env | grep '^SBATCH_' | sort >"$d/sbatch.env.$n"
name=""
for a; do case $a in --job-name=*) name=${a#--job-name=} ;; esac; done
script=${!#}
if [[ -z $name && -r $script ]]; then
  name=$(sed -n 's/^#SBATCH --job-name=//p' "$script" | head -n 1)
fi
[[ ! -e $d/sbatch.delay ]] || sleep "$(<"$d/sbatch.delay")"
fails=$(cat "$d/sbatch.fail" 2>/dev/null || echo 0)
if ((fails > 0)); then
  echo $((fails - 1)) >"$d/sbatch.fail"
  echo "sbatch: error: Batch job submission failed: Socket timed out on send/recv operation" >&2
  exit 1
fi
id=$(cat "$d/sbatch.next_id" 2>/dev/null || echo 200)
echo $((id + 1)) >"$d/sbatch.next_id"
if [[ -e $d/sbatch.fail_submitted ]]; then
  rm -f "$d/sbatch.fail_submitted"
  printf '%s|%s|PENDING|(null)|1:00:00|Dependency\n' "$name" "$id" >>"$d/squeue.state"
  echo "$id" >>"$d/sbatch.submitted"
  echo "sbatch: error: slurm_receive_msg: Socket timed out on send/recv operation" >&2
  exit 1
fi
[[ -e $d/sbatch.no_queue ]] || printf '%s|%s|PENDING|(null)|1:00:00|Dependency\n' "$name" "$id" >>"$d/squeue.state"
echo "$id" >>"$d/sbatch.submitted"
printf '%s\n' "$id"
[[ ! -e $d/slurm.warn ]] || cat "$d/slurm.warn" >&2
EOF
  _stub squeue <<'EOF'
printf '%s\n' "$*" >>"$d/squeue.log"
env | grep '^SQUEUE_' >>"$d/squeue.env"
[[ ! -e $d/slurm.warn ]] || cat "$d/slurm.warn" >&2
if [[ -e $d/squeue.fail_after ]]; then
  left=$(<"$d/squeue.fail_after")
  if ((left > 0)); then echo $((left - 1)) >"$d/squeue.fail_after"; else : >"$d/squeue.fail"; fi
fi
if [[ -e $d/squeue.fail ]]; then
  echo "squeue: error: Unable to contact slurm controller (connect failure)" >&2
  exit 1
fi
name="" fmt="" job=""
while (($#)); do
  case $1 in
    -n|--name) name=$2; shift 2 ;;
    --name=*) name=${1#*=}; shift ;;
    -o|--format) fmt=$2; shift 2 ;;
    -j|--jobs) job=$2; shift 2 ;;
    -u|--user|-p|-t) shift 2 ;;
    *) shift ;;
  esac
done
case $fmt in
  '%i|%T|%N|%L|%r') with_name=0 ;;
  '%j|%i|%T|%N|%L|%r') with_name=1 ;;  # one squeue for a whole batch (sac list)
  '%T|%r') with_name=2 ;;  # one job's state and reason (book.sh while it waits)
  *) echo "squeue stub: unexpected format '$fmt'" >&2; exit 1 ;;
esac
[[ -r $d/squeue.state ]] || exit 0
while IFS='|' read -r n rest; do
  [[ -n $n ]] || continue
  if ((with_name == 2)); then
    IFS='|' read -r id state _ _ reason <<<"$rest"
    [[ $id != "$job" ]] || printf '%s|%s\n' "$state" "$reason"
  elif ((with_name)); then printf '%s|%s\n' "$n" "$rest"
  elif [[ -z $name || $n == "$name" ]]; then printf '%s\n' "$rest"; fi
done <"$d/squeue.state"
[[ ! -e $d/slurm.warn ]] || cat "$d/slurm.warn" >&2
exit 0
EOF
  _stub scancel <<'EOF'
printf '%s\n' "$*" >>"$d/scancel.log"
env | grep '^SCANCEL_' >>"$d/scancel.env"
if [[ -e $d/scancel.fail ]]; then echo "scancel: error: Unable to contact slurm controller" >&2; exit 1; fi
# As a cancel would: the job's tmux server goes with it.
[[ ! -e $d/scancel.kills_tmux ]] || tmux -L "$(<"$d/scancel.kills_tmux")" kill-server 2>/dev/null
exit 0
EOF
  _stub srun <<'EOF'
printf '%s\n' "$*" >>"$d/srun.log"
# A step that hangs on the node (a wedged tmux, a node that stopped answering).
[[ ! -e $d/srun.hang ]] || exec sleep "$(<"$d/srun.hang")"
if [[ -e $d/srun.fail ]]; then echo "srun: error: Unable to create step for job: Invalid job id specified" >&2; exit 1; fi
# As SLURM: a step only into a job of squeue.state that is RUNNING, on its node.
job="" node=""
for a; do
  case $a in --jobid=*) job=${a#--jobid=} ;; esac
done
for ((i = 1; i < $#; i++)); do [[ ${!i} != -w ]] || { j=$((i + 1)); node=${!j}; }; done
if [[ -n $job ]]; then
  line=$(awk -F'|' -v j="$job" '$2 == j' "$d/squeue.state" 2>/dev/null | head -n 1)
  IFS='|' read -r _ _ jstate jnode _ <<<"$line"
  if [[ -z $line ]]; then echo "srun: error: Unable to confirm allocation for job $job: Invalid job id specified" >&2; exit 1; fi
  if [[ $jstate == SUSPENDED ]]; then
    # SLURM retries a step it may not take yet, forever without --immediate.
    [[ " $* " == *" --immediate="* ]] || sleep 600
    echo "srun: error: Unable to create step for job $job: Requested operation is presently disabled" >&2
    exit 1
  fi
  if [[ $jstate != RUNNING ]]; then echo "srun: error: Unable to confirm allocation for job $job: Job is pending execution" >&2; exit 1; fi
  if [[ -n $node && $node != "$jnode" ]]; then echo "srun: error: Unable to create step for job $job: Requested node configuration is not available" >&2; exit 1; fi
fi
while (($#)); do
  case $1 in
    --) shift; break ;;
    -w|-n|-N|-c|-t|-p|-J|--nodelist|--ntasks|--nodes) shift 2 ;;
    -*) shift ;;
    *) break ;;
  esac
done
if [[ -e $d/srun.linger ]]; then
  # A step that ends a while after its command (slurmstepd tearing down).
  "$@"
  rc=$?
  sleep "$(<"$d/srun.linger")"
  exit "$rc"
fi
exec "$@"
EOF
  _stub sinfo <<'EOF'
printf '%s\n' "$*" >>"$d/sinfo.log"
case " $* " in
  *" -N "*) printf 'node7|mixed\nnode8|idle\n' ;;  # every node, for a whole batch (sac list)
  *) echo mixed ;;
esac
EOF
  unset -f _stub
}

# calls CMD: how many times a stub was called.
calls() {
  if [[ -r $STUB/$1.log ]]; then wc -l <"$STUB/$1.log" | tr -d ' '; else echo 0; fi
}

# squeue_add JOBNAME ID STATE [NODE]
squeue_add() {
  printf '%s|%s|%s|%s|1:00:00|None\n' "$1" "$2" "$3" "${4:-}" >>"$STUB/squeue.state"
}

# sbatch_argv N: the argv of the Nth sbatch call, one word per line (for grep).
sbatch_argv() { tr '\0' '\n' <"$STUB/sbatch.argv.$1"; }

# has_word FILE WORD: the NUL-separated FILE has WORD as one whole word.
has_word() {
  local w
  while IFS= read -r -d '' w; do [[ $w == "$2" ]] && return 0; done <"$1"
  return 1
}

# last_word FILE: the last word of a NUL-separated FILE.
last_word() {
  local w last=""
  while IFS= read -r -d '' w; do last=$w; done <"$1"
  printf '%s' "$last"
}

# A PATH with every system command but no SLURM command (the real slurm-client
# may be installed in /usr/bin): symlinks to everything else.
make_path_without_slurm() {
  local dir="$SAC_T/sysbin"
  mkdir -p "$dir"
  python3 - "$dir" "${ORIG_PATH#"$STUB_BIN:"}" <<'EOF'
import os, sys
out, path = sys.argv[1], sys.argv[2]
slurm = {"sacct", "sacctmgr", "salloc", "sattach", "sbatch", "sbcast", "scancel",
         "scontrol", "scrontab", "sdiag", "sinfo", "sprio", "squeue", "sreport", "srun",
         "sshare", "sstat", "strigger", "sview", "sjstat", "smap", "sh5util", "sjobexitmod"}
for d in path.split(":"):
    if not os.path.isdir(d):
        continue
    for name in os.listdir(d):
        src = os.path.join(d, name)
        dst = os.path.join(out, name)
        if name in slurm or os.path.lexists(dst):
            continue
        if os.path.isfile(src) and os.access(src, os.X_OK):
            os.symlink(src, dst)
EOF
  NOSLURM_PATH=$dir
  if PATH=$dir command -v sbatch >/dev/null; then
    echo "could not make a PATH without sbatch" >&2
    return 1
  fi
}

# known_bug TEXT: explain, in a failing test's output, the template bug it shows.
known_bug() {
  printf 'KNOWN BUG (the test states the correct behaviour; the template does not do it yet):\n%s\n' "$1"
}

# refute CMD...: CMD must fail. (A bare `! cmd` line never fails a bats test:
# set -e ignores negated commands.)
refute() {
  if "$@"; then
    echo "expected to fail, but succeeded: $*"
    return 1
  fi
}

# clobbering_hook FILE: a hook (pre_agent, hold body) that uses every variable
# and function name of the script that sources it, but sac_* (the names sac's
# scripts keep across a hook; a hook is free to use any other). It also sets the
# plain names a user's hook plausibly sets.
clobbering_hook() {
  cat >"$1" <<'HOOK'
for v in $(compgen -v); do
  case $v in sac_* | [A-Z]* | _* | v) ;; *) eval "$v=clobbered-by-hook" ;; esac
done
for f in $(compgen -A function); do
  case $f in sac_*) ;; *) eval "$f() { echo \"clobbered function $f called\"; }" ;; esac
done
dir=/nonexistent name=hooked job=1 pool=hooked log=/nonexistent/x.log jobname=x lead=1 session=x socket=x
hook=/nonexistent fifo=/nonexistent hold_pid=1 hold_dir=/nonexistent sbatch=/nonexistent status=9
log() { echo "clobbered function log called"; }
HOOK
}
