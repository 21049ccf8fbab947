# sac_current_v VAR CHAIN: the job that matters: running first, then
# configuring, suspended, completing (a job replaced with --force is still
# ending while its successor runs), and only then pending.
sac_current_v() {
  local sac_line sac_best="" sac_rank=9 sac_r
  while IFS= read -r sac_line; do
    [[ -n $sac_line ]] || continue
    case ${sac_line#*|} in
      RUNNING*) sac_r=0 ;;
      CONFIGURING*) sac_r=1 ;;
      SUSPENDED*) sac_r=2 ;;
      COMPLETING*) sac_r=3 ;;
      *) sac_r=4 ;;
    esac
    if ((sac_r < sac_rank)); then sac_rank=$sac_r sac_best=$sac_line; fi
  done <<<"$2"
  printf -v "$1" '%s' "$sac_best"
}
