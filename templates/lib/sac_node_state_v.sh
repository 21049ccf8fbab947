# sac_node_state_v VAR NODE: the state of a node as sinfo sees it (drained,
# down ...): the answer to sac_node_state_ask, else from the batch's snapshot,
# else asked now. Empty when sinfo cannot tell.
# shellcheck disable=SC2154
sac_node_state_v() {
  local sac_si sac_snap sac_n sac_st=""
  printf -v "$1" '%s' ""
  if [[ -n ${sac_node_ask_fd:-} ]]; then
    IFS= read -r -u "$sac_node_ask_fd" sac_st || true
    exec {sac_node_ask_fd}<&-
    sac_node_ask_fd=""
    printf -v "$1" '%s' "$sac_st"
    return 0
  fi
  if [[ -z ${SAC_SNAPSHOT:-} ]]; then
    sac_slurm_v sac_si sinfo || return 0
    sac_st=$("$sac_si" -h -n "$2" -o '%T' 2>/dev/null)
    printf -v "$1" '%s' "${sac_st%%$'\n'*}"
    return 0
  fi
  sac_snap="$sac_root/.snapshot-$SAC_SNAPSHOT.sinfo"
  sac_node_snapshot
  [[ -e $sac_snap ]] || return 0
  while IFS='|' read -r sac_n sac_st; do
    if [[ $sac_n == "$2" ]]; then
      printf -v "$1" '%s' "$sac_st"
      return 0
    fi
  done <"$sac_snap"
}
