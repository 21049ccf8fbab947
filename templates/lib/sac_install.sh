# sac_install FILE: its standard input (a here-document) into FILE, only if that
# changes it. A file that a running bash is reading (a live session's
# session.sh) must never be rewritten in place: bash reads a script as it goes
# and would carry on in the middle of the new text. So a changed file is written
# beside it and renamed over it (the running bash keeps the old one), a new one
# is written where it goes, an unchanged one is left alone.
sac_install() {
  local sac_new="" sac_old=""
  IFS= read -r -d '' sac_new || true
  if [[ -e $1 ]]; then
    IFS= read -r -d '' sac_old <"$1" || true
    [[ $sac_new != "$sac_old" ]] || return 0
    printf '%s' "$sac_new" >"$1.new.$$" && mv -f -- "$1.new.$$" "$1"
  else
    printf '%s' "$sac_new" >"$1"
  fi
}
