# sac_lock NAME: agent NAME's lock on this host, held until the script (or
# subshell) ends, so that its starts and stops take turns; non-zero when it is
# not had in 180 s (longer than a tenant's start may hold it: a 60 s set-up).
# shellcheck disable=SC2154
sac_lock() {
  local sac_fd
  [[ -d $sac_root/agents/$1 ]] || (umask 077 && mkdir -p "$sac_root/agents/$1") || return 1
  exec {sac_fd}>>"$sac_root/agents/$1/start.lock" || return 1
  flock -w "${SAC_LOCK_WAIT:-180}" "$sac_fd"
}
