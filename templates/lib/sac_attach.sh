# sac_attach JOB NODE SOCKET SESSION: this terminal into the tmux session, on
# the job's node. ssh brings the laptop's terminal type along; one the node does
# not know (xterm-kitty, xterm-ghostty, ...) makes tmux refuse ("missing or
# unsuitable terminal"), and so does none or dumb: then attach as xterm-256color.
# shellcheck disable=SC2016,SC2154
sac_attach() {
  local srun
  sac_slurm_v srun srun || { echo "sac: srun not found on $sac_host" >&2; exit 1; }
  exec "$srun" --jobid="$1" --overlap -n1 -N1 -w "$2" --quiet --pty bash -c '
    if [[ ${TERM:-dumb} == dumb ]] || { command -v infocmp >/dev/null && ! infocmp -- "$TERM" >/dev/null 2>&1; }; then
      echo "sac: terminal type ${TERM:-(none)} is unknown on $(hostname); attaching as xterm-256color" >&2
      export TERM=xterm-256color
    fi
    exec tmux -L "$1" attach-session -t "=$2"' _ "$3" "$4"
}
