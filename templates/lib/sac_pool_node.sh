# sac_pool_node POOL NODE: the running job of reservation POOL in res_job, and
# in res_node the node a step of it is to run on: NODE, which must be one of the
# job's nodes (squeue's %N, expanded), or, NODE empty, the job's first node.
# Otherwise the calling script's sac_fail MESSAGE STATUS: 1 when the pool has no
# running job, 2 when NODE is not one of its nodes.
# shellcheck disable=SC2034,SC2154
sac_pool_node() {
  local sac_all sac_n sac_list=()
  sac_reservation_job "$1"
  if [[ $res_state != RUNNING ]]; then
    sac_fail "reservation '$1' is not running on $sac_host (${res_job:+job $res_job }${res_state:-no job of it is queued or running})" 1
  fi
  if ! sac_nodes_v sac_all "$res_node"; then
    sac_fail "cannot list the nodes of job $res_job ($res_node): $sac_all" 1
  fi
  read -ra sac_list <<<"$sac_all"
  if [[ -z $2 ]]; then
    res_node=${sac_list[0]:-}
    [[ -n $res_node ]] || sac_fail "job $res_job of reservation '$1' runs on no node that squeue names" 1
    return 0
  fi
  for sac_n in "${sac_list[@]}"; do
    if [[ $sac_n == "$2" ]]; then
      res_node=$sac_n
      return 0
    fi
  done
  sac_fail "--node $2 is not a node of reservation '$1' (job $res_job runs on ${sac_all// /, })" 2
}
