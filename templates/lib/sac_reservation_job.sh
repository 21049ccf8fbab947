# sac_reservation_job POOL: the live job of reservation POOL, found by name on
# the cluster (it changes on every resubmit), in res_job, res_state and
# res_node; the calling script's sac_fail when squeue cannot be asked.
# shellcheck disable=SC2034,SC2154
sac_reservation_job() {
  if ! sac_chain_v chain "sac-res-$1"; then
    sac_fail "could not ask squeue on $sac_host about reservation '$1': ${chain//$'\n'/ }"
  fi
  sac_current_v current "$chain"
  IFS='|' read -r res_job res_state res_node _ _ <<<"$current"
}
