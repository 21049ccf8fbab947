# sac_take_lease TOKEN: make TOKEN the newest generation of agent $sac_dir (its
# lease, in the agent's folder on the shared file system), then wait until the
# agent process of an earlier generation is gone. That process's session sees
# within SAC_LEASE_CHECK seconds (10) that it lost the lease and ends it (TERM,
# then KILL after 10 s); its `running` marker goes with it. A marker whose
# heartbeat is older than SAC_LEASE_STALE seconds (30) belongs to a session
# that can no longer act (its node died, or lost the shared folder): it is
# passed over, and the log says so; so is one whose job SLURM says has ended.
# Sets sac_lease to "GEN TOKEN".
# shellcheck disable=SC2154
sac_take_lease() {
  local sac_fd sac_gen=0 sac_line="" sac_now sac_age sac_said=0 sac_old
  exec {sac_fd}>>"$sac_dir/lease.lock" || return 1
  flock -w 60 "$sac_fd" || { exec {sac_fd}>&-; return 1; }
  [[ -e $sac_dir/lease ]] && IFS=' ' read -r sac_gen _ <"$sac_dir/lease"
  [[ $sac_gen =~ ^[0-9]+$ ]] || sac_gen=0
  sac_lease="$((sac_gen + 1)) $1"
  sac_write "$sac_dir/lease" "$sac_lease"
  exec {sac_fd}>&-
  while [[ -e $sac_dir/running ]]; do
    IFS= read -r sac_line 2>/dev/null <"$sac_dir/running" || sac_line=""
    [[ ${sac_line%% *} == "$1" ]] && break
    # The earlier process ran in another job that has ended (the walltime end of
    # the job before, a cancel): SLURM ended its processes with it, whether or
    # not its session had the time to say so. Asked every 5 s, while it waits.
    sac_old=${sac_line%%.*}
    if ((sac_said % 5 == 0)) && [[ $sac_old =~ ^[0-9]+$ && $sac_old != "${SLURM_JOB_ID:-}" ]] && sac_job_ended "$sac_old"; then
      sac_log "the agent's earlier process ($sac_line) ended with its job $sac_old"
      rm -f "$sac_dir/running"
      break
    fi
    printf -v sac_now '%(%s)T' -1
    sac_age=$((sac_now - $(stat -c %Y "$sac_dir/running" 2>/dev/null || echo "$sac_now")))
    if ((sac_age > ${SAC_LEASE_STALE:-30})); then
      sac_log "the agent's earlier process ($sac_line) has given no sign of life for ${sac_age}s: going on without it"
      rm -f "$sac_dir/running"
      break
    fi
    ((sac_said++)) || sac_log "waiting for the agent's earlier process ($sac_line) to end"
    sleep 1
  done
}
