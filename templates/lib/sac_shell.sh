# sac_shell JOB NODE: this terminal into a login shell on NODE, inside JOB (an
# srun step that takes no resources), until the shell exits. A terminal type
# the node does not know is replaced with xterm-256color, as in sac_attach.
# shellcheck disable=SC2016,SC2154
sac_shell() {
  local srun
  sac_slurm_v srun srun || { echo "sac: srun not found on $sac_host" >&2; exit 1; }
  exec "$srun" --jobid="$1" --overlap -n1 -N1 -w "$2" --quiet --pty bash -c '
    if [[ ${TERM:-dumb} == dumb ]] || { command -v infocmp >/dev/null && ! infocmp -- "$TERM" >/dev/null 2>&1; }; then
      echo "sac: terminal type ${TERM:-(none)} is unknown on $(hostname); using xterm-256color" >&2
      export TERM=xterm-256color
    fi
    exec "${SHELL:-bash}" -l'
}
