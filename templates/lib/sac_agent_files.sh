# sac_agent_files DIR: what the agent's session keeps in its folder DIR about
# its conversation and restarts, into sac_conv_id (the pinned session id),
# sac_restarts (restarts in the running job or session), sac_gave_up
# ("RESTARTS STATUS" once the restart policy gave up) and sac_note (why the
# conversation changed last: "EPOCH TEXT"); each empty when not there.
# shellcheck disable=SC2034
sac_agent_files() {
  sac_conv_id="" sac_restarts="" sac_gave_up="" sac_note=""
  [[ -r $1/session-id ]] && IFS= read -r sac_conv_id <"$1/session-id"
  [[ $sac_conv_id =~ ^[0-9A-Za-z-]{1,64}$ ]] || sac_conv_id=""
  [[ -r $1/restarts ]] && IFS= read -r sac_restarts <"$1/restarts"
  [[ $sac_restarts =~ ^[0-9]{1,6}$ ]] || sac_restarts=0
  [[ -r $1/gave-up ]] && IFS= read -r sac_gave_up <"$1/gave-up"
  [[ $sac_gave_up =~ ^[0-9]+\ [0-9]+$ ]] || sac_gave_up=""
  [[ -r $1/session-note ]] && IFS= read -r sac_note <"$1/session-note"
  return 0
}
