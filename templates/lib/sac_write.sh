# sac_write FILE TEXT: TEXT into FILE, replacing it whole (a file beside it,
# renamed over it): a reader on another node sees the old text or the new one.
sac_write() {
  printf '%s\n' "$2" >"$1.tmp.$$" && mv -f -- "$1.tmp.$$" "$1"
}
