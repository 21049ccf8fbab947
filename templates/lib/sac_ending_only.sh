# sac_ending_only CHAIN: status 0 when every job of CHAIN is COMPLETING (a job
# just cancelled, still being cleaned up).
sac_ending_only() {
  local sac_line
  [[ -n $1 ]] || return 1
  while IFS= read -r sac_line; do
    [[ -z $sac_line || ${sac_line#*|} == COMPLETING* ]] || return 1
  done <<<"$1"
}
