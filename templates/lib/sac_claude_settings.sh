# sac_claude_settings FILE SCRIPT: Claude Code settings into FILE whose hooks
# (https://code.claude.com/docs/en/hooks) each run `bash SCRIPT --hook EVENT`.
# Given with --settings, they add to the user's own settings and hooks.
sac_claude_settings() {
  local sac_cmd sac_ev sac_json="" sac_q
  # One word for sh -c: single quotes, a ' inside as '\''.
  sac_q=${2//\'/\'\\\'\'}
  for sac_ev in SessionStart UserPromptSubmit PreToolUse Stop Notification PermissionRequest SessionEnd; do
    sac_quote_v sac_cmd "bash '$sac_q' --hook $sac_ev"
    sac_json+="${sac_json:+,}\"$sac_ev\":[{\"hooks\":[{\"type\":\"command\",\"command\":$sac_cmd}]}]"
  done
  sac_write "$1" "{\"hooks\":{$sac_json}}"
}
