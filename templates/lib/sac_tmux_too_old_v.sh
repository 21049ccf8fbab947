# sac_tmux_too_old_v VAR: in VAR, why this node's tmux cannot serve (older than
# 2.1: sac needs commands given as words, 2.0, and exact `=name` targets, 2.1);
# empty when it can, or when its version does not say (a build from git).
# shellcheck disable=SC2154
sac_tmux_too_old_v() {
  local sac_v
  printf -v "$1" '%s' ""
  sac_v=$(tmux -V 2>&1) || { printf -v "$1" 'tmux does not run on %s: %s' "$sac_host" "$sac_v"; return 0; }
  if [[ ${sac_v#tmux } =~ ^(next-)?([0-9]+)\.([0-9]+) ]] &&
    ((BASH_REMATCH[2] < 2 || (BASH_REMATCH[2] == 2 && BASH_REMATCH[3] < 1))); then
    printf -v "$1" '%s on %s is older than tmux 2.1, which sac needs' "$sac_v" "$sac_host"
  fi
}
