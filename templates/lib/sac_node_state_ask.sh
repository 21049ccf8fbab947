# sac_node_state_ask NODE: start asking sinfo for the state of NODE in the
# background, so that the question overlaps the srun step that looks at the
# pane; sac_node_state_v collects the answer. With SAC_SNAPSHOT (one sinfo for
# the whole batch) there is nothing to start.
# shellcheck disable=SC2034
sac_node_state_ask() {
  local sac_si
  [[ -z ${SAC_SNAPSHOT:-} ]] || return 0
  sac_slurm_v sac_si sinfo || return 0
  exec {sac_node_ask_fd}< <("$sac_si" -h -n "$1" -o '%T' 2>/dev/null)
}
