# sac_nodes_v VAR NODELIST: the names of the nodes of a SLURM node list (n1, or
# n[1-2],gpu3 as squeue's %N writes a job's nodes), space-separated, in VAR.
# Status non-zero when scontrol cannot expand it; VAR then says why.
# shellcheck disable=SC2154
sac_nodes_v() {
  local sac_sc sac_out
  if [[ $2 != *[[,]* ]]; then
    printf -v "$1" '%s' "$2"
    return 0
  fi
  if ! sac_slurm_v sac_sc scontrol; then
    printf -v "$1" 'scontrol not found on %s' "$sac_host"
    return 2
  fi
  if ! sac_out=$("$sac_sc" show hostnames "$2" 2>&1) || [[ -z $sac_out ]]; then
    printf -v "$1" '%s' "${sac_out//$'\n'/ }"
    return 2
  fi
  printf -v "$1" '%s' "${sac_out//$'\n'/ }"
}
