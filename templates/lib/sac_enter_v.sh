# sac_enter_v VAR POOL NAME: tenant NAME on reservation POOL's manifest; VAR is
# 1 when the entry is made now, 0 when it was there (or cannot be made).
# shellcheck disable=SC2154
sac_enter_v() {
  printf -v "$1" 0
  if [[ ! -e $sac_root/reservations/$2/tenants/$3 ]]; then
    : >"$sac_root/reservations/$2/tenants/$3" && printf -v "$1" 1
  fi
}
