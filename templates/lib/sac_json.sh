# A JSON string literal for the machine-readable result line.
sac_json() {
  local sac_j
  sac_quote_v sac_j "$1"
  printf '%s' "$sac_j"
}
