# sac_cancel_chain: cancels the chain of jobs named $jobname, the running one and
# any queued successor; sets ids (the cancelled ids, as JSON strings). $dir is
# the folder whose stopped marker turns resubmission off; marked is set when
# this call made that marker (the calling script's sac_fail takes it back: then
# nothing was stopped). A script that defines sac_before_cancel JOB NODE gets a
# last look into the running job before it goes.
# shellcheck disable=SC2154
sac_cancel_chain() {
  # First the marker, so that a resubmit trap running right now submits nothing;
  # then the trap's lock, so that an sbatch it has already begun has ended (and
  # its job is in the queue, to be cancelled below) before the queue is read.
  marked=""
  if [[ -d $dir && ! -e $dir/stopped ]]; then : >"$dir/stopped" && marked=1; fi
  if [[ -n $marked ]] && exec {lockfd}>>"$dir/resubmit.lock"; then
    flock -w 20 "$lockfd" || true # a lock that cannot be had: the next job's own look at the marker
    exec {lockfd}>&-
  fi
  if ! sac_chain_v chain "$jobname"; then
    sac_fail "could not ask squeue on $sac_host: ${chain//$'\n'/ }"
  fi
  ids=""
  while IFS='|' read -r j _; do
    [[ -n $j ]] && ids+="${ids:+,}$(sac_json "$j")"
  done <<<"$chain"
  if [[ -n $ids ]]; then
    # A last look into the running job before it goes, when the script has one
    # (sac_before_cancel JOB NODE: stop and release keep the agents' screens).
    if declare -F sac_before_cancel >/dev/null; then
      sac_current_v current "$chain"
      IFS='|' read -r j state node _ _ <<<"$current"
      [[ $state != RUNNING ]] || sac_before_cancel "$j" "$node"
    fi
    sac_slurm_v scancel scancel || sac_fail "scancel not found on $sac_host"
    # By name: every job of the chain.
    out=$(sac_scancel -u "$sac_user" -n "$jobname" 2>&1) || sac_fail "scancel failed on $sac_host: ${out//$'\n'/ }"
  fi
}
