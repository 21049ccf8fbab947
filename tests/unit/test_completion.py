"""Shell completion is generated from the parsers and completes real words."""

import os
import shutil
import subprocess

import pytest

from sacgen.cli.completion import bash_script, zsh_script


def complete(script, *words):
    line = " ".join(f"'{w}'" for w in words)
    prog = f"{script}\nCOMP_WORDS=({line}); COMP_CWORD={len(words) - 1}; _sacgen_complete; echo \"${{COMPREPLY[*]}}\""
    return subprocess.run(["bash", "-c", prog], capture_output=True, text=True, check=True).stdout.split()


def test_bash_completion_completes_commands_and_flags():
    s = bash_script()
    assert subprocess.run(["bash", "-n"], input=s, text=True).returncode == 0
    assert complete(s, "sac", "ag") == ["agent"]
    assert complete(s, "sac", "agent", "st") == ["start", "status", "stop"]
    assert complete(s, "sac", "reservations", "re") == ["refresh", "release"]
    assert sorted(complete(s, "scitex-hpc", "reservations", "book", "pool", "--t")) == ["--time", "--tmux-server"]
    assert complete(s, "sacgen", "b") == ["build"]
    assert "--check" in complete(s, "sacgen", "build", "--")


# An interactive zsh (in a pseudo-terminal, zsh's zpty) that sources the script
# in a bare ~/.zshrc-less shell, types LINE and a TAB, and prints what the line
# became. sac is a function here: completion needs the name, not the program.
ZSH_DRIVER = r"""
zmodload zsh/zpty
zpty z 'zsh -f -i'
zpty -w z 'PS1="> "; setopt nobeep; sac() { :; }; sacgen() { :; }; source ${(q)SCRIPT}; print READY'
zpty -w -n z "$LINE"$'\t'
zpty -w z ''
out= line=
integer end=$(( SECONDS + 20 ))
while (( SECONDS < end )); do
  if zpty -r -t z line; then out+=$line; [[ $out == *"$WANT"* ]] && break; else sleep 0.05; fi
done
zpty -d z
print -r -- ${out//$'\r'/}
"""


# Without zsh these are skipped, not failed; CI (which installs zsh, see .ci/run)
# sets CI and runs them whatever.
needs_zsh = pytest.mark.skipif(shutil.which("zsh") is None and not os.environ.get("CI"),
                               reason="zsh is not installed (apt-get install zsh to run the zsh completion tests)")


@needs_zsh
@pytest.mark.parametrize("line, want", [("sac reservations rel", "sac reservations release "),
                                        ("sac agent stat", "sac agent status "),
                                        ("scitex-hpc reservations book p --tmux", "--tmux-server "),
                                        ("sacgen buil", "sacgen build ")])
def test_zsh_completion_completes_in_a_real_zsh(line, want, tmp_path):
    """`source <(sacgen completion zsh)` in a zsh that has not run compinit."""
    script = tmp_path / "sac.zsh"
    script.write_text(zsh_script())
    r = subprocess.run(["zsh", "-f", "-c", ZSH_DRIVER], env={"SCRIPT": str(script), "LINE": line, "WANT": want,
                       "PATH": "/usr/bin:/bin", "TERM": "dumb", "HOME": str(tmp_path)},
                       capture_output=True, text=True, timeout=60)
    assert "command not found" not in r.stdout + r.stderr, r.stdout + r.stderr
    typed = r.stdout.rsplit("READY", 1)[-1]
    assert want in typed, typed
