# The result of one tenant's launch (from sac_launch's output). Its entry on the
# reservation's manifest (which the successor job relaunches) was made before
# the launch -- so that an agent that ends at once takes it away for good --
# and is taken back if the launch failed and the entry was made for it (FRESH 1).
# Usage: sac_tenant_result NAME POOL JOB NODE SERVER LAUNCH_OUTPUT FRESH
# shellcheck disable=SC2154
sac_tenant_result() {
  local name=$1 pool=$2 job=$3 node=$4 server=$5 out=$6 outcome reason error="" already=false json
  sac_outcome_v outcome "sac-$name" "$out"
  case $outcome in
    @started | @already)
      if [[ $outcome == @already ]]; then already=true; fi
      sac_obj_v json ok:r true name:s "$name" reservation:s "$pool" job_id:s "$job" node:s "$node" already:r "$already"
      sac_result "$json"
      return 0 ;;
    @noserver)
      # The job writes running.<job> once its server is up (after the hold body),
      # failed.<job> when it could not get that far.
      if [[ ! -e $sac_root/reservations/$pool/running.$job && ! -e $sac_root/reservations/$pool/failed.$job ]]; then
        error="reservation '$pool' (job $job) is still starting: its tmux server '$server' is not up yet (the hold body runs first); try again in a moment"
      else
        error="reservation '$pool' (job $job) has no tmux server '$server' running; re-book with --tmux-server $server"
      fi ;;
    @died)
      sac_reason_v reason "sac-$name" "$out"
      if [[ -n $reason ]]; then
        error="tenant session sac-$name could not start: $reason; see: sac agent logs $name"
      else
        error="tenant session sac-$name ended right after it started; see: sac agent logs $name"
      fi ;;
    *) error="could not start session sac-$name in job $job on $node: ${out//$'\n'/ }" ;;
  esac
  [[ $7 != 1 ]] || rm -f "$sac_root/reservations/$pool/tenants/$name"
  sac_obj_v json ok:r false name:s "$name" reservation:s "$pool" error:s "$error"
  sac_result "$json"
  return 1
}
