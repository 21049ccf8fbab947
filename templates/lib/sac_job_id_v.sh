# sac_job_id_v VAR TEXT: the job id that `sbatch --parsable` printed ("ID" or
# "ID;CLUSTER" on a line of its own) in TEXT, its stdout and stderr; empty if
# none (a warning on stderr is not a failure, and not an id).
sac_job_id_v() {
  local sac_line
  printf -v "$1" '%s' ""
  while IFS= read -r sac_line; do
    [[ ! ${sac_line%%;*} =~ ^[0-9]+$ ]] || printf -v "$1" '%s' "${sac_line%%;*}"
  done <<<"$2"
}
