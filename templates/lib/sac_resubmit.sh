# sac_resubmit: the USR1 trap of a batch job (job.sbatch, reservation.sbatch).
# SLURM sends USR1 to the batch shell (B:) $sac_lead s before walltime. The
# trap submits exactly one successor, which waits (--dependency=singleton) until
# this job has ended and then carries on under the same job name. Guards against
# duplicates: a per-job marker, a lock, and a look at the queue before every
# sbatch (a failed sbatch may have submitted all the same). Reads the job's
# sac_dir, sac_job, sac_jobname, sac_job_script, sac_lead, sac_sbatch and
# sac_resubmitting; calls its sac_log and sac_sbatch_env.
# shellcheck disable=SC2154
sac_resubmit() {
  local marker="$sac_dir/successor.$sac_job" lockfd out rc id line attempt=0 delay=2 grace unsure=0 asked
  local deadline=$((SECONDS + sac_lead - 30))
  if ((sac_resubmitting)); then sac_log "USR1 again while resubmitting: ignored"; return 0; fi
  # A stop in progress writes `stopped` first and takes it back if it fails:
  # give it 30 s (SAC_STOP_GRACE) to end the job or to fail, since USR1 comes
  # only once.
  for ((grace = 0; grace < ${SAC_STOP_GRACE:-30}; grace++)); do
    [[ -e $sac_dir/stopped ]] || break
    sleep 1
  done
  if [[ -e $sac_dir/stopped ]]; then sac_log "stopped on purpose: not resubmitting"; return 0; fi
  # No command substitution on the way in: bash can fail to parse one when a
  # second signal arrives in the middle of it.
  if [[ -s $marker ]]; then
    IFS= read -r id <"$marker" || true
    sac_log "successor $id already submitted"
    return 0
  fi
  sac_resubmitting=1
  exec {lockfd}>>"$sac_dir/resubmit.lock"
  while :; do
    attempt=$((attempt + 1))
    # Held from the look at the queue to the end of sbatch, never while
    # waiting to retry: a stop takes it to wait for an sbatch in flight.
    flock -w 20 "$lockfd" || sac_log "resubmit lock busy for 20 s; going on"
    asked=0
    if sac_chain_v out "$sac_jobname"; then
      asked=1 id=""
      while IFS='|' read -r line _; do
        if [[ -n $line && $line != "$sac_job" ]]; then id=$line; break; fi
      done <<<"$out"
      if [[ -n $id ]]; then
        sac_log "successor $id is already queued"
        printf '%s\n' "$id" >"$marker"
        break
      fi
    elif ((unsure)); then
      # The last sbatch failed, and may have submitted all the same: no second
      # one until the queue has said whether it did.
      sac_log "squeue failed; not submitting again until it answers (the last sbatch may have submitted)"
    else
      sac_log "squeue failed; cannot tell whether a successor exists"
    fi
    # A stop that came meanwhile (its marker; its SIGTERM ends the job).
    if [[ -e $sac_dir/stopped ]]; then sac_log "stopped on purpose: not resubmitting"; break; fi
    if ((asked || !unsure)); then
      if [[ -z $sac_sbatch ]]; then sac_slurm_v sac_sbatch sbatch || sac_sbatch=""; fi
      if [[ -z $sac_sbatch ]]; then
        # Retrying cannot help, and the trap must not keep the shell from its hold.
        sac_log "sbatch not found (PATH=$PATH, SAC_SLURM_BIN=${SAC_SLURM_BIN:-unset}): cannot resubmit"
        break
      fi
      out=$(sac_sbatch_env; "$sac_sbatch" --parsable --dependency=singleton --job-name="$sac_jobname" \
        --output="$sac_dir/job-%j.log" --open-mode=append --chdir="$sac_dir" "$sac_job_script" 2>&1)
      rc=$?
      sac_job_id_v id "$out"
      if ((rc == 0)) && [[ -n $id ]]; then
        sac_log "submitted successor $id"
        printf '%s\n' "$id" >"$marker"
        break
      fi
      sac_log "sbatch failed (attempt $attempt, status $rc): ${out//$'\n'/ }"
      unsure=1
    fi
    flock -u "$lockfd"
    if ((SECONDS + delay > deadline)); then
      sac_log "giving up resubmitting: walltime is near"
      break
    fi
    # The job's hold has ended (the agent is gone): no successor is wanted.
    if [[ -n ${sac_hold_pid:-} ]] && ! kill -0 "$sac_hold_pid" 2>/dev/null; then
      sac_log "the job is ending: not resubmitting"
      break
    fi
    # In the background so that the shell stays responsive to signals.
    sleep "$delay" & wait $!
    delay=$((delay * 2 > 60 ? 60 : delay * 2))
  done
  flock -u "$lockfd"
  exec {lockfd}>&-
  sac_resubmitting=0
}
