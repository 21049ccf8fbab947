# sac_record_hook EVENT: what a Claude Code hook of the agent's session tells,
# its JSON on standard input (https://code.claude.com/docs/en/hooks), kept in
# the agent's folder $sac_dir:
# - `saved.ID` once conversation ID holds a message (UserPromptSubmit, Stop):
#   the next start resumes it rather than pinning it afresh;
# - `session-started.RUN` when the session of run RUN ($SAC_RUN) is ready
#   (SessionStart): an agent that exits before it never got its conversation;
# - `activity` (when $sac_activity is 1): working (UserPromptSubmit,
#   PreToolUse), idle (SessionStart, Stop), waiting (a permission_prompt or
#   elicitation_dialog Notification, PermissionRequest), ended (SessionEnd),
#   and since when (epoch seconds).
# shellcheck disable=SC2154
sac_record_hook() {
  local sac_in="" sac_id="" sac_kind="" sac_state="" sac_now
  IFS= read -r -d '' sac_in || true
  [[ $sac_in =~ \"session_id\"[[:space:]]*:[[:space:]]*\"([0-9A-Za-z-]+)\" ]] && sac_id=${BASH_REMATCH[1]}
  [[ $sac_in =~ \"notification_type\"[[:space:]]*:[[:space:]]*\"([a-z_]+)\" ]] && sac_kind=${BASH_REMATCH[1]}
  case $1 in
    SessionStart)
      [[ -n ${SAC_RUN:-} ]] && : >"$sac_dir/session-started.$SAC_RUN"
      sac_state=idle ;;
    UserPromptSubmit) sac_state=working ;;
    PreToolUse) sac_state=working ;;
    Stop) sac_state=idle ;;
    Notification) case $sac_kind in permission_prompt | elicitation_dialog) sac_state=waiting ;; esac ;;
    PermissionRequest) sac_state=waiting ;;
    SessionEnd) sac_state=ended ;;
  esac
  case $1 in UserPromptSubmit | Stop) [[ -n $sac_id ]] && : >"$sac_dir/saved.$sac_id" ;; esac
  if ((${sac_activity:-0})) && [[ -n $sac_state ]]; then
    printf -v sac_now '%(%s)T' -1
    sac_write "$sac_dir/activity" "$sac_state $sac_now"
  fi
  return 0
}
