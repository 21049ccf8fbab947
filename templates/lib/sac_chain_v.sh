# sac_chain_v VAR NAME: the jobs of one chain (all share a job name) in VAR, one
# "id|state|node|time_left|reason" per line. Status non-zero means squeue could
# not be asked -- never "no jobs" -- and VAR then says why.
# With SAC_SNAPSHOT set (sac list: many agents in one connection), one squeue
# answers for every agent of the batch: slurmctld is asked once, not per agent.
# shellcheck disable=SC2154
sac_chain_v() {
  local sac_sq sac_snap sac_line sac_c=""
  if ! sac_slurm_v sac_sq squeue; then
    printf -v "$1" 'squeue not found on %s' "$sac_host"
    return 2
  fi
  if [[ -z ${SAC_SNAPSHOT:-} ]]; then
    if sac_c=$(unset "${!SQUEUE_@}"; "$sac_sq" -h -u "$sac_user" -n "$2" -o '%i|%T|%N|%L|%r' 2>&1); then
      sac_jobs_only_v "$1" "$sac_c" 1
      return 0
    fi
    printf -v "$1" '%s' "$sac_c"
    return 2
  fi
  # The snapshot files of a batch are written whole before any step reads them
  # (the steps run one after the other), by the shell itself: no mv, no rm.
  sac_snap="$sac_root/.snapshot-$SAC_SNAPSHOT.squeue"
  if [[ ! -e $sac_snap ]]; then
    [[ -d $sac_root ]] || mkdir -p "$sac_root" || { printf -v "$1" 'cannot create %s' "$sac_root"; return 2; }
    if ! sac_c=$(unset "${!SQUEUE_@}"; "$sac_sq" -h -u "$sac_user" -o '%j|%i|%T|%N|%L|%r' 2>&1); then
      printf -v "$1" '%s' "${sac_c%%$'\n'*}"
      return 2
    fi
    sac_jobs_only_v sac_c "$sac_c" 2
    printf '%s\n' "$sac_c" >"$sac_snap" || { printf -v "$1" 'cannot write %s' "$sac_snap"; return 2; }
    sac_c=""
  fi
  while IFS= read -r sac_line; do
    if [[ ${sac_line%%|*} == "$2" ]]; then sac_c+=${sac_c:+$'\n'}${sac_line#*|}; fi
  done <"$sac_snap"
  printf -v "$1" '%s' "$sac_c"
}
