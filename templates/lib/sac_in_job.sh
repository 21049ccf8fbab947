# Run a command in a running job (a step that takes no resources, on the job's
# node). srun waits for a step it may not take yet (a suspended job) for
# sac_step_wait seconds (default 10), then gives up and says why. With
# sac_step_limit, the whole step is given that many seconds (a step that is not
# needed for the operation must not hold it up).
# shellcheck disable=SC2154
sac_in_job() {
  local job=$1 node=$2 srun limit=()
  shift 2
  sac_slurm_v srun srun || { echo "srun not found on $sac_host" >&2; return 2; }
  if [[ -n ${sac_step_limit:-} ]] && type -P timeout >/dev/null; then limit=(timeout "$sac_step_limit"); fi
  "${limit[@]}" "$srun" --jobid="$job" --overlap -n1 -N1 -w "$node" --quiet --immediate="${sac_step_wait:-10}" "$@"
}
