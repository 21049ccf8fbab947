#!/usr/bin/env bats
# Every generated script parses (bash -n) and passes shellcheck; a value that
# looks like the here-document delimiter cannot cut start.sh's copy short.
# SC2016/SC1003: hostile values and jq programs are single-quoted on purpose;
# SC2030/SC2031: each test exports its own SLURM_* variables on purpose.
# shellcheck disable=SC2016,SC1003,SC2030,SC2031

load helpers

setup() { sac_setup; }
teardown() { sac_teardown; }

# A spec whose values collide with the here-document delimiter on a line of their own.
heredoc_spec() {
  jq -n '{apiVersion: "scitex-agent-container/v3", kind: "Agent",
      spec: {runtime: "slurm", model: "sonnet",
             env: {A: "x\nSAC_EOF\ny", B: "SAC_EOF_1\n", C: "\nSAC_EOF_2"},
             claude: {command: "/bin/true", flags: ["SAC_EOF", "\nSAC_EOF\n"]},
             slurm: {time_limit: "1-0", resubmit_before: 600}}}'
}

build_all() {
  OUT="$SAC_T/examples-build"
  "$SACGEN" build "$SAC_REPO/examples" -o "$OUT" >/dev/null
  sac_build heredoc "$(heredoc_spec)"
  SCRIPTS=()
  local f
  while IFS= read -r -d '' f; do SCRIPTS+=("$f"); done < <(find "$OUT" "$BUILT" -type f ! -name '*.json' -print0)
  [ "${#SCRIPTS[@]}" -gt 20 ]
}

@test "every built script passes bash -n" {
  build_all
  local f bad=0
  for f in "${SCRIPTS[@]}"; do
    if ! bash -n "$f"; then
      echo "bash -n failed: $f"
      bad=1
    fi
  done
  [ "$bad" -eq 0 ]
}

@test "every built script passes shellcheck" {
  command -v shellcheck >/dev/null || skip "shellcheck is not installed"
  build_all
  run shellcheck -s bash "${SCRIPTS[@]}"
  [ "$status" -eq 0 ]
}

@test "start.sh installs job.sbatch and session.sh byte for byte even when values contain the heredoc delimiter" {
  sac_build heredoc "$(heredoc_spec)"
  grep -qx SAC_EOF "$BUILT/session.sh"
  run bash "$BUILT/start.sh"
  [ "$status" -eq 0 ]
  result_json
  jcheck '.ok == true'
  cmp "$BUILT/session.sh" "$SAC_REMOTE_HOME/agents/heredoc/session.sh"
  cmp "$BUILT/job.sbatch" "$SAC_REMOTE_HOME/agents/heredoc/job.sbatch"
}
