# sac_jobs_only_v VAR TEXT N: the lines of squeue's TEXT whose field N is a job
# id followed by a state (one of squeue's -o formats above), in VAR. squeue's
# stderr is in TEXT too (for its message when it fails), and a site's squeue
# may warn there on every call (a deprecated option in slurm.conf, ...): such a
# line must never be read as a job.
sac_jobs_only_v() {
  local sac_line sac_out="" sac_re='^[0-9][^|]*[|][A-Z_]+([|]|$)'
  [[ $3 == 1 ]] || sac_re='^[^|]*[|][0-9][^|]*[|][A-Z_]+([|]|$)'
  while IFS= read -r sac_line; do
    [[ ! $sac_line =~ $sac_re ]] || sac_out+=${sac_out:+$'\n'}$sac_line
  done <<<"$2"
  printf -v "$1" '%s' "$sac_out"
}
