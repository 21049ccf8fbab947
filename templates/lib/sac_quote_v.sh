# sac_quote_v VAR TEXT: TEXT as a JSON string literal, in VAR.
sac_quote_v() {
  local LC_ALL=C sac_q=$2
  sac_q=${sac_q//\\/\\\\}
  sac_q=${sac_q//\"/\\\"}
  sac_q=${sac_q//$'\n'/\\n}
  sac_q=${sac_q//$'\r'/\\r}
  sac_q=${sac_q//$'\t'/\\t}
  sac_q=${sac_q//[$'\001'-$'\037']/}
  printf -v "$1" '"%s"' "$sac_q"
}
