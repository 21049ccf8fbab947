# sac_busy_result NAME POOL: the result of a tenant whose start or stop could
# not have its lock.
# shellcheck disable=SC2154
sac_busy_result() {
  local sac_json
  sac_obj_v sac_json ok:r false name:s "$1" reservation:s "$2" \
    error:s "another start or stop of $1 is still running on $sac_host"
  sac_result "$sac_json"
}
