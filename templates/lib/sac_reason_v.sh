# sac_reason_v VAR SESSION OUTPUT: why SESSION could not start, as sac_launch
# reports it ("@reason SESSION<TAB>why"), in VAR; empty when none.
sac_reason_v() {
  local sac_line sac_why=""
  while IFS= read -r sac_line; do
    if [[ $sac_line == "@reason $2"$'\t'* ]]; then sac_why=${sac_line#*$'\t'}; fi
  done <<<"$3"
  printf -v "$1" '%s' "$sac_why"
}
