# sac_pane_snapshot SOCKET JOB NODE: the snapshot of tmux server SOCKET's panes
# in running job JOB, for batch $SAC_SNAPSHOT (one step into the job, unless the
# batch has it already): the file sac_pane_v reads, or, when the node could not
# be asked, its .raw with the error.
# shellcheck disable=SC2016,SC2154
sac_pane_snapshot() {
  local sac_snap="$sac_root/.snapshot-$SAC_SNAPSHOT.tmux-$2-$1" sac_out
  [[ ! -e $sac_snap ]] || return 0
  sac_out=$(sac_in_job "$2" "$3" bash -c '
    tmux -L "$1" list-panes -a -F "#{session_name}|#{pane_pid}" 2>/dev/null
    echo "@ps"
    ps -e -o ppid=,pid=,comm= 2>/dev/null
    echo "@listed"' _ "$1" </dev/null 2>&1)
  sac_snapshot_panes "$sac_snap" "$sac_out" || printf '%s\n' "$sac_out" >"$sac_snap.raw"
}
