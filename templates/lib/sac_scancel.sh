# sac_scancel ARG...: "$scancel" ARG..., without the login shell's SCANCEL_*
# settings (a SCANCEL_STATE would spare jobs); in a subshell, which keeps them
# for everything else.
# shellcheck disable=SC2154
sac_scancel() {
  (
    unset "${!SCANCEL_@}"
    "$scancel" "$@"
  )
}
