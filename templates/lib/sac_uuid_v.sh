# sac_uuid_v VAR: a new random UUID (version 4) in VAR, from the kernel's
# generator where there is one, else from /dev/urandom.
sac_uuid_v() {
  local sac_u="" sac_b
  if [[ -r /proc/sys/kernel/random/uuid ]]; then
    IFS= read -r sac_u </proc/sys/kernel/random/uuid
  fi
  if [[ ! $sac_u =~ ^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$ ]]; then
    sac_b=$(od -An -tx1 -N16 /dev/urandom | tr -d ' \n')
    sac_u=${sac_b:0:8}-${sac_b:8:4}-4${sac_b:13:3}-$(printf '%x' $((0x${sac_b:16:1} & 3 | 8)))${sac_b:17:3}-${sac_b:20:12}
  fi
  printf -v "$1" '%s' "$sac_u"
}
