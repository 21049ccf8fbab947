# sac_obj_v VAR KEY:TYPE VALUE ...: a JSON object in VAR. TYPE s is a string,
# n a string or null when empty, r raw JSON (true, false, null, a list ...).
sac_obj_v() {
  local sac_var=$1 sac_o="" sac_v
  shift
  while (($# >= 2)); do
    case ${1##*:} in
      r) sac_v=$2 ;;
      n) if [[ -n $2 ]]; then sac_quote_v sac_v "$2"; else sac_v=null; fi ;;
      *) sac_quote_v sac_v "$2" ;;
    esac
    sac_o+="${sac_o:+,}\"${1%:*}\":$sac_v"
    shift 2
  done
  printf -v "$sac_var" '%s' "{$sac_o}"
}
