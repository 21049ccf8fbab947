# sac_slurm_v VAR CMD: the absolute path of a SLURM command, in VAR: PATH first,
# then the directory sbatch was found in at submit time (compute nodes may have a
# hardened PATH without it).
sac_slurm_v() {
  local sac_rest=${PATH:-}: sac_d
  while [[ -n $sac_rest ]]; do
    sac_d=${sac_rest%%:*}
    sac_rest=${sac_rest#*:}
    if [[ $sac_d == /* && -x $sac_d/$2 && ! -d $sac_d/$2 ]]; then
      printf -v "$1" '%s' "$sac_d/$2"
      return 0
    fi
  done
  if [[ -n ${SAC_SLURM_BIN:-} && -x ${SAC_SLURM_BIN}/$2 ]]; then
    printf -v "$1" '%s' "${SAC_SLURM_BIN}/$2"
    return 0
  fi
  return 1
}
