# Create tenant sessions on a reservation's tmux server, all in ONE step.
# Usage: sac_launch JOB NODE SERVER SESSION SCRIPT [SESSION SCRIPT ...]
# Prints "@<outcome> <session>" per session: started, already, died, failed, noserver.
# A dead tmux server is refused: a new one started by the step would die with it.
# shellcheck disable=SC2016
sac_launch() {
  local job=$1 node=$2 server=$3
  shift 3
  sac_in_job "$job" "$node" bash -c '
    server=$1
    shift
    # The sessions there are, with one tmux call for all the launches.
    declare -A live=()
    while IFS= read -r s; do
      [[ -z $s ]] || live[$s]=1
    done < <(tmux -L "$server" list-sessions -F "#{session_name}" 2>/dev/null)
    if [[ -z ${live[_root]:-} ]]; then
      while (($#)); do echo "@noserver $1"; shift 2; done
      exit 0
    fi
    launched=()
    n=0
    while (($#)); do
      if [[ -n ${live[$1]:-} ]]; then
        echo "@already $1"
      else
        [[ ! -e ${2%/*}/launch-state ]] || rm -f "${2%/*}/launch-state"
        if tmux -L "$server" new-session -d -s "$1" -x 220 -y 50 bash "$2" "sac-launch-$1-$$"; then
          launched+=("$1" "${2%/*}/launch-state")
          n=$((n + 2))
        elif tmux -L "$server" has-session -t "=$1" 2>/dev/null; then
          echo "@already $1"  # made meanwhile, by another start
        else
          echo "@failed $1"
        fi
      fi
      shift 2
    done
    # Each session.sh tells when its agent is about to start, or why it could not
    # (launch-state, then a signal on its tmux channel): wait for that, no longer.
    # All sessions set up at once; this waits for the slowest, 60 s at most in all.
    # The wait is cut into 1 s pieces only to notice a session that is gone
    # without telling, and for tmux before 2.0, which drops a signal sent before
    # anyone waits.
    deadline=$((SECONDS + 60))
    for ((i = 0; i < n; i += 2)); do
      s=${launched[i]} state=${launched[i + 1]} told=""
      while [[ ! -s $state ]] && ((SECONDS < deadline)) && tmux -L "$server" has-session -t "=$s" 2>/dev/null; do
        timeout 1 tmux -L "$server" wait-for "sac-launch-$s-$$" 2>/dev/null
      done
      if [[ -r $state ]]; then IFS= read -r told <"$state"; fi
      rm -f "$state"
      if [[ $told != "" && $told != ready ]]; then
        printf "@reason %s\t%s\n" "$s" "$told"
        echo "@died $s"
      elif tmux -L "$server" has-session -t "=$s" 2>/dev/null; then
        echo "@started $s"
      else
        echo "@died $s"
      fi
    done
  ' _ "$server" "$@" </dev/null 2>&1
}
