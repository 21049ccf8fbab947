"""Shell completion is generated from the parsers and completes real words."""

import subprocess

from sacgen.completion import bash_script, zsh_script


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


def test_zsh_completion_loads_bashcompinit():
    assert zsh_script().startswith("# Completion") and "bashcompinit" in zsh_script()
