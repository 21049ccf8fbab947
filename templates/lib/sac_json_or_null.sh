# A JSON string, or null when empty.
sac_json_or_null() {
  if [[ -n $1 ]]; then sac_json "$1"; else printf 'null'; fi
}
