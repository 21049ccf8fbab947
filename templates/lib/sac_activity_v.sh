# sac_activity_v VAR DIR: what the agent whose folder is DIR was last doing, read
# from two files there (no step, no squeue): `activity` ("STATE EPOCH", written
# by the agent's hooks: working, idle, waiting or ended, and since when) and
# `sent` ("EPOCH": when `sac agent send` last typed to it). VAR is the JSON
# members activity, activity_epoch and sent_epoch (null where a file is missing
# or not of that form).
sac_activity_v() {
  local sac_a="" sac_e=null sac_s=null sac_line=""
  if [[ -r $2/activity ]] && IFS= read -r sac_line <"$2/activity" \
    && [[ $sac_line =~ ^(working|idle|waiting|ended)\ ([0-9]{1,12})$ ]]; then
    sac_a=${BASH_REMATCH[1]} sac_e=$((10#${BASH_REMATCH[2]}))
  fi
  sac_line=""
  if [[ -r $2/sent ]] && IFS= read -r sac_line <"$2/sent" && [[ $sac_line =~ ^([0-9]{1,12})$ ]]; then
    sac_s=$((10#${BASH_REMATCH[1]}))
  fi
  [[ -z $sac_a ]] || sac_a="\"$sac_a\""
  printf -v "$1" '"activity":%s,"activity_epoch":%s,"sent_epoch":%s' "${sac_a:-null}" "$sac_e" "$sac_s"
}
