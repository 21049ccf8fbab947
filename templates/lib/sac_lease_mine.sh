# sac_lease_mine: whether this session still holds the agent's newest lease
# ($sac_lease, as sac_take_lease wrote it). Status 2: the lease cannot be
# read (the shared folder does not answer) -- which is not "lost".
# shellcheck disable=SC2154
sac_lease_mine() {
  local sac_now_lease=""
  IFS= read -r sac_now_lease 2>/dev/null <"$sac_dir/lease" || return 2
  [[ $sac_now_lease == "$sac_lease" ]]
}
