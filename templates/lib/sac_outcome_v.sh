# sac_outcome_v VAR SESSION OUTPUT: the outcome of SESSION in the output of
# sac_launch or sac_kill ("@started", "@killed" ...), in VAR; empty when none.
sac_outcome_v() {
  local sac_line sac_out=""
  while IFS= read -r sac_line; do
    if [[ $sac_line == "@"*" $2" && $sac_line != "@reason "* ]]; then sac_out=${sac_line%% *}; fi
  done <<<"$3"
  printf -v "$1" '%s' "$sac_out"
}
