# sac_progress JSON: a progress line while a script waits, which sac shows as it
# comes (the result line stays the last). Status non-zero once sac is gone (a
# closed pipe): the caller ends there.
sac_progress() {
  printf '@sac-progress %s\n' "$1"
}
