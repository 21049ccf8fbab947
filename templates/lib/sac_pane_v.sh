# sac_pane_v VAR SOCKET SESSION JOB NODE: the agent process in a tmux session on
# a running job's node: VAR is "<command>\n@rc=0"; "@rc=1" when the session is
# not there; anything else when the node could not be asked. With SAC_SNAPSHOT,
# one step lists every session of that tmux server (and one `ps` the node's
# processes) for the whole batch.
# shellcheck disable=SC2016,SC2034,SC2154
sac_pane_v() {
  local sac_socket=$2 sac_session=$3 sac_job=$4 sac_node=$5 sac_snap sac_line sac_pid sac_cmd
  if [[ -z ${SAC_SNAPSHOT:-} ]]; then
    sac_line=$(sac_in_job "$sac_job" "$sac_node" bash -c '
      # The pane runs session.sh; what matters is the agent, its child. (Not
      # display-message: for a session that is not there, it prints nothing
      # and exits 0.)
      pid=$(tmux -L "$1" list-panes -t "=$2:" -F "#{pane_pid}" 2>/dev/null) && [[ -n $pid ]] || { echo "@rc=1"; exit 0; }
      pid=${pid%%[!0-9]*}
      cmd=$(ps -o comm= --ppid "$pid" 2>/dev/null | head -n 1)
      echo "${cmd:-$(ps -o comm= -p "$pid" 2>/dev/null)}"
      echo "@rc=0"' _ "$sac_socket" "$sac_session" </dev/null 2>&1)
    printf -v "$1" '%s' "$sac_line"
    return 0
  fi
  sac_snap="$sac_root/.snapshot-$SAC_SNAPSHOT.tmux-$sac_job-$sac_socket"
  sac_pane_snapshot "$sac_socket" "$sac_job" "$sac_node"
  if [[ ! -e $sac_snap ]]; then
    sac_line=""
    [[ ! -r $sac_snap.raw ]] || sac_line=$(<"$sac_snap.raw")
    printf -v "$1" '%s' "${sac_line:-no answer from node $sac_node}"
    return 0
  fi
  while IFS='|' read -r sac_line sac_cmd; do
    if [[ $sac_line == "$sac_session" ]]; then
      printf -v "$1" '%s\n@rc=0' "$sac_cmd"
      return 0
    fi
  done <"$sac_snap"
  printf -v "$1" '@rc=1'
}
