# The result is one line of its own, last, marked so that login-shell banners
# and command noise around it can never be mistaken for it.
sac_result() {
  printf '\n@sac-result %s\n' "$1"
}
