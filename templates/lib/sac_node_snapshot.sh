# sac_node_snapshot: sinfo's state of every node, once per batch $SAC_SNAPSHOT
# (empty when sinfo cannot tell: it is not asked again in the batch).
# shellcheck disable=SC2154
sac_node_snapshot() {
  local sac_si sac_snap="$sac_root/.snapshot-$SAC_SNAPSHOT.sinfo" sac_out=""
  [[ ! -e $sac_snap ]] || return 0
  if sac_slurm_v sac_si sinfo; then
    sac_out=$("$sac_si" -h -N -o '%N|%T' 2>/dev/null) || sac_out=""
  fi
  printf '%s\n' "$sac_out" >"$sac_snap" || rm -f "$sac_snap"
}
