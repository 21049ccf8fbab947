# sac_keep_screen SERVER SESSION LOG WHAT: the screen of session SESSION
# (sac-<name>) on tmux server SERVER, appended to LOG (when its folder is there)
# for `sac agent logs` once the session is gone, as it was before WHAT (a stop, a
# release). Runs on the job's node, in the step that looks (sac_kill, stop.sh
# and release.sh hand it to their step): the node writes the file, as it does
# the job's log.
sac_keep_screen() {
  local screen
  [[ -d ${3%/*} ]] || return 0
  screen=$(tmux -L "$1" capture-pane -p -J -S -200 -t "=$2:" 2>/dev/null) || return 0
  printf '[sac] agent %s: its last screen before %s:\n%s' "${2#sac-}" "$4" "${screen:+$screen$'\n'}" >>"$3"
}
