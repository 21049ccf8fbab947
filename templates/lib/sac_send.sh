# sac_send JOB NODE SOCKET SESSION DIR ENTER [KEY...]: type what comes on stdin
# into the agent's pane, in one step into its running job (the text travels on
# the step's stdin, never in a command line). Prints "@send=ok EPOCH", or
# "@send=gone WHY" (the agent is not running in the pane: nothing typed),
# "@send=failed WHY" (tmux failed), or anything else when the step did not run.
# - Only into a live pane whose program (session.sh) has a child, the agent,
#   and whose hooks do not say it ended: never into a dead pane or a shell.
# - `sent` (EPOCH, the node's clock, which the hooks use too) is written before
#   the text goes in, and later than the second of the last state the hooks
#   wrote (it waits for the next second if need be): so a state counts as an
#   answer when its EPOCH >= sent (sac agent wait).
# - A non-empty text goes in as one paste (tmux's own buffer, named for this
#   call, pasted with -p: bracketed when the program asked for it, as Claude
#   Code does, so the lines are one message), then Enter after a short pause
#   unless ENTER is 0 (a program may take an Enter that comes with a paste as
#   part of it). Then the keys, by tmux's names.
# shellcheck disable=SC2016
sac_send() {
  local job=$1 node=$2
  shift 2
  sac_in_job "$job" "$node" bash -c '
    socket=$1 session=$2 dir=$3 enter=$4
    shift 4
    pane=$(tmux -L "$socket" list-panes -t "=$session:" -F "#{pane_dead} #{pane_pid}" </dev/null 2>/dev/null) \
      || { echo "@send=gone no session $session"; exit 0; }
    read -r dead pid <<<"$pane"
    if [[ $dead != 0 || -z $(ps -o pid= --ppid "$pid" </dev/null 2>/dev/null) ]]; then
      echo "@send=gone the pane of $session runs no agent"
      exit 0
    fi
    state="" epoch=0
    if [[ -r $dir/activity ]]; then read -r state epoch <"$dir/activity" || true; fi
    [[ $epoch =~ ^[0-9]{1,12}$ ]] || epoch=0
    if [[ $state == ended ]]; then echo "@send=gone its agent has ended"; exit 0; fi
    now=$(date +%s)
    for _ in 1 2 3 4 5 6 7 8 9 10 11 12; do
      ((now <= 10#$epoch)) || break
      sleep 0.1
      now=$(date +%s)
    done
    printf "%s\n" "$now" >"$dir/.sent.$$" && mv -f "$dir/.sent.$$" "$dir/sent" || { echo "@send=failed cannot write $dir/sent"; exit 0; }
    text=$(cat; echo .)
    text=${text%.}
    if [[ -n $text ]]; then
      buffer=sac-send-$$-$RANDOM
      printf "%s" "$text" | tmux -L "$socket" load-buffer -b "$buffer" - || { echo "@send=failed tmux load-buffer failed"; exit 0; }
      if ! tmux -L "$socket" paste-buffer -p -d -b "$buffer" -t "=$session:" </dev/null; then
        tmux -L "$socket" delete-buffer -b "$buffer" </dev/null 2>/dev/null
        echo "@send=failed tmux paste-buffer failed"
        exit 0
      fi
      if [[ $enter == 1 ]]; then
        sleep 0.5
        tmux -L "$socket" send-keys -t "=$session:" Enter </dev/null || { echo "@send=failed the text is in, but tmux send-keys Enter failed"; exit 0; }
      fi
    fi
    if (($#)); then
      tmux -L "$socket" send-keys -t "=$session:" "$@" </dev/null || { echo "@send=failed tmux send-keys failed"; exit 0; }
    fi
    echo "@send=ok $now"' _ "$@" 2>&1
}
