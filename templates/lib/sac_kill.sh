# Kill tenant sessions on a reservation's tmux server, all in ONE step.
# Usage: sac_kill JOB NODE SERVER SESSION [SESSION ...]
# Prints "@<outcome> <session>" per session: killed, none (not there), failed.
# shellcheck disable=SC2016,SC2154
sac_kill() {
  local job=$1 node=$2 server=$3
  shift 3
  sac_in_job "$job" "$node" bash -c "$(declare -f sac_keep_screen)"'
    root=$1 server=$2
    shift 2
    for s; do
      if tmux -L "$server" has-session -t "=$s" 2>/dev/null; then
        sac_keep_screen "$server" "$s" "$root/agents/${s#sac-}/agent.log" "sac agent stop"
        if tmux -L "$server" kill-session -t "=$s"; then echo "@killed $s"; else echo "@failed $s"; fi
      else
        echo "@none $s"
      fi
    done' _ "$sac_root" "$server" "$@" </dev/null 2>&1
}
