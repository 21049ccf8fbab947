# sac_job_ended JOB: whether SLURM says job JOB has ended (squeue shows it in
# an end state, or no longer knows it). Not when squeue cannot be asked: "could
# not ask" is not "ended".
sac_job_ended() {
  local sac_sq sac_out
  sac_slurm_v sac_sq squeue || return 1
  if sac_out=$(unset "${!SQUEUE_@}"; "$sac_sq" -h -j "$1" -o %T 2>&1); then
    case $sac_out in
      "" | BOOT_FAIL | CANCELLED | COMPLETED | DEADLINE | FAILED | NODE_FAIL | OUT_OF_MEMORY | PREEMPTED | TIMEOUT) return 0 ;;
    esac
    return 1
  fi
  [[ $sac_out == *"Invalid job id"* ]]
}
