# shellcheck disable=SC2034
# Per-user state on the cluster; ~ and $HOME are the cluster's, never the laptop's.
sac_root=${SAC_REMOTE_HOME:-$HOME/.scitex/agent-container}
sac_user=${USER:-}
[[ -n $sac_user ]] || sac_user=$(id -un)
sac_host=${HOSTNAME:-}
[[ -n $sac_host ]] || sac_host=$(hostname)

# The helpers named *_v set the variable named first instead of printing, so that
# hot paths (sac list: one status script per agent) run without a subshell. The
# names the scripts give them, declared here (shellcheck cannot see printf -v):
chain="" current="" probe="" result="" one="" node_state="" outcome="" sbatch="" scancel="" srun="" fresh="" why=""
sac_conv_id="" sac_restarts="" sac_gave_up="" sac_note="" sac_refused="" sac_lease=""
