# sac_snapshot_panes FILE LISTING: from a pane listing and the node's `ps`, FILE
# with one "session|command of the pane's first child (else of the pane)" per
# pane. Status 1, and no FILE, when LISTING is not a whole one.
sac_snapshot_panes() {
  local sac_line sac_ppid sac_pid sac_comm sac_in=panes
  local -a sac_panes=()
  local -A sac_child=() sac_own=()
  while IFS= read -r sac_line; do
    case $sac_in:$sac_line in
      panes:@ps) sac_in=procs ;;
      panes:*) sac_panes+=("$sac_line") ;;
      procs:@listed) sac_in=end ;;
      procs:*)
        read -r sac_ppid sac_pid sac_comm <<<"$sac_line"
        [[ -n ${sac_child[$sac_ppid]:-} ]] || sac_child[$sac_ppid]=$sac_comm
        sac_own[$sac_pid]=$sac_comm ;;
    esac
  done <<<"$2"
  [[ $sac_in == end ]] || return 1
  for sac_line in ${sac_panes[@]+"${sac_panes[@]}"}; do  # (bash < 4.4: an empty array is unset)
    sac_pid=${sac_line##*|}
    sac_comm=${sac_child[$sac_pid]:-}
    [[ -n $sac_comm ]] || sac_comm=${sac_own[$sac_pid]:-}
    printf '%s|%s\n' "${sac_line%|*}" "$sac_comm"
  done >"$1" && return 0
  rm -f "$1"
  return 1
}
