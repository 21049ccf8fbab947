# sac_watchdog SESSION PIDFILE: run in the background beside an agent session,
# its output to the log alone. Every SAC_LEASE_CHECK seconds (10) it renews the
# heartbeat of the `running` marker and checks the lease: when a newer
# generation holds it, the agent (its pid in PIDFILE) is told to end (TERM),
# and killed 10 s later, so that an agent whose job lost its lease is gone
# within 20 s. It ends with SESSION (a zombie counts as ended: PID 1 may never
# reap it, and kill -0 would call it alive).
# shellcheck disable=SC2154
sac_watchdog() {
  local sac_pid sac_state
  while :; do
    sleep "${SAC_LEASE_CHECK:-10}"
    sac_state=""
    if [[ -d /proc/$$ ]]; then
      [[ -r /proc/$1/stat ]] && read -r _ _ sac_state _ 2>/dev/null <"/proc/$1/stat"
      [[ -n $sac_state && $sac_state != Z ]] || return 0
    else
      kill -0 "$1" 2>/dev/null || return 0
    fi
    [[ -e $sac_dir/running ]] && touch "$sac_dir/running" 2>/dev/null
    sac_lease_mine
    if (($? == 1)); then
      IFS= read -r sac_pid 2>/dev/null <"$2" || sac_pid=""
      if [[ -n $sac_pid ]] && kill -0 "$sac_pid" 2>/dev/null; then
        sac_log "a newer start of the agent holds its lease: ending this one (pid $sac_pid)"
        kill -TERM "$sac_pid" 2>/dev/null
        sleep 10
        kill -KILL "$sac_pid" 2>/dev/null
      fi
      return 0
    fi
  done
}
