# sac_tmux_server_v VAR POOL: the tmux server that reservation POOL was booked
# with (book.sh records it), in VAR; empty when there is none.
# shellcheck disable=SC2154
sac_tmux_server_v() {
  printf -v "$1" '%s' ""
  if [[ -r $sac_root/reservations/$2/tmux_server ]]; then
    IFS= read -r "$1" <"$sac_root/reservations/$2/tmux_server" || true
  fi
}
