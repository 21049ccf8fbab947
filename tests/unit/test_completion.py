"""Shell completion is generated from the parsers and completes real words."""

import json
import os
import shutil
import subprocess
import sys
import time

import pytest

from sacgen.cli.completion import bash_script, fish_script, tcsh_script, zsh_script


def complete(script, *words, env=None):
    line = " ".join(f"'{w}'" for w in words)
    prog = f"{script}\nCOMP_WORDS=({line}); COMP_CWORD={len(words) - 1}; _sacgen_complete; echo \"${{COMPREPLY[*]}}\""
    return subprocess.run(["bash", "-c", prog], capture_output=True, text=True, check=True, env=env).stdout.split()


@pytest.fixture
def world(tmp_path):
    """The installed commands (sac, scitex-hpc, sacgen on PATH), agents in a
    discovery folder and in $SAC_HOME/agents, a registry with started and
    stopped agents and two reservations, and an ssh that must never run."""
    bin_ = tmp_path / "bin"
    bin_.mkdir()
    for name, code in (("sac", "from sacgen.cli.sac import console"),
                       ("scitex-hpc", "from sacgen.cli.sac import hpc_console as console"),
                       ("sacgen", "from sacgen.cli.sacgen import console")):
        (bin_ / name).write_text(f'#!/bin/sh\nexec {sys.executable} -c "{code}; console()" "$@"\n')
        (bin_ / name).chmod(0o755)
    (bin_ / "ssh").write_text(f"#!/bin/sh\ntouch {tmp_path}/ssh-ran\nexit 255\n")
    (bin_ / "ssh").chmod(0o755)
    home, disc = tmp_path / "home", tmp_path / "disc"
    for folder, name in ((home / "agents", "alpha"), (disc, "bravo")):
        (folder / name).mkdir(parents=True)
        (folder / name / f"{name}.yaml").write_text("kind: Agent\n")
    (home / "state.json").write_text(json.dumps({
        "version": 1, "agents": {"charlie": {"host": "h", "runtime": "slurm"}},
        "stopped": {"delta": {"host": "h", "runtime": "slurm"}},
        "reservations": {"dev-pool": {"host": "h"}, "lab-pool": {"host": "h"}}}))
    env = {"PATH": f"{bin_}:/usr/bin:/bin", "HOME": str(tmp_path), "SAC_HOME": str(home),
           "SCITEX_AGENT_CONTAINER_YAML_DIRS": str(disc), "SAC_SSH": str(bin_ / "ssh"), "TERM": "xterm"}
    yield env
    assert not (tmp_path / "ssh-ran").exists(), "completion ran ssh"


def test_names_come_from_this_machine_fast(world):
    start = time.monotonic()
    r = subprocess.run(["sac", "__names", "agents"], env=world, capture_output=True, text=True, timeout=30)
    assert time.monotonic() - start < 5  # one local python start, no connection
    assert r.stdout.split() == ["alpha", "bravo", "charlie", "delta"] and r.returncode == 0
    r = subprocess.run(["scitex-hpc", "__names", "reservations"], env=world, capture_output=True, text=True)
    assert r.stdout.split() == ["dev-pool", "lab-pool"]
    # A registry that is not there or not JSON: no names, no error.
    os.remove(os.path.join(world["SAC_HOME"], "state.json"))
    r = subprocess.run(["sac", "__names", "reservations"], env=world, capture_output=True, text=True)
    assert (r.returncode, r.stdout, r.stderr) == (0, "", "")


def test_bash_completes_names_choices_and_files(world, tmp_path):
    s = bash_script()
    assert complete(s, "sac", "agent", "status", "", env=world) == ["alpha", "bravo", "charlie", "delta"]
    assert complete(s, "sac", "agent", "stop", "alpha", "c", env=world) == ["charlie"]
    assert complete(s, "sac", "reservations", "release", "", env=world) == ["dev-pool", "lab-pool"]
    assert complete(s, "scitex-hpc", "reservations", "get", "l", env=world) == ["lab-pool"]
    assert complete(s, "sac", "agent", "migrate", "x.yaml", "--reservation", "d", env=world) == ["dev-pool"]
    assert complete(s, "sacgen", "schema", "--kind", "", env=world) == ["Agent", "Reservation"]
    assert complete(s, "sacgen", "completion", "", env=world) == ["bash", "zsh", "tcsh", "fish"]
    # An option's value is no command word: what follows is still the command's.
    assert complete(s, "sac", "reservations", "book", "--host", "agent", "--no-w", env=world) == ["--no-wait"]
    # -v on every command.
    assert "--verbose" in complete(s, "sac", "agent", "logs", "--", env=world)
    # agent start: names and files.
    (tmp_path / "alpine.yaml").write_text("")
    got = complete(s, "sac", "agent", "start", f"{tmp_path}/alp", env=world)
    assert got == [f"{tmp_path}/alpine.yaml"]
    assert "alpha" in complete(s, "sac", "agent", "start", "al", env=world)


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
# became. Without the commands on PATH, sac is a function here: completion needs
# the name, not the program.
ZSH_DRIVER = r"""
zmodload zsh/zpty
zpty z 'zsh -f -i'
zpty -w z 'PS1="> "; setopt nobeep; (( $+commands[sac] )) || { sac() { :; }; sacgen() { :; }; }; source ${(q)SCRIPT}; print READY'
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


@needs_zsh
@pytest.mark.parametrize("line, want", [("sac agent status ch", "sac agent status charlie "),
                                        ("scitex-hpc reservations release la", "release lab-pool "),
                                        ("sacgen completion fi", "sacgen completion fish ")])
def test_zsh_completes_names_and_choices_in_a_real_zsh(line, want, world, tmp_path):
    script = tmp_path / "sac.zsh"
    script.write_text(zsh_script())
    r = subprocess.run(["zsh", "-f", "-c", ZSH_DRIVER], env=dict(world, SCRIPT=str(script), LINE=line, WANT=want,
                                                               TERM="dumb"),
                       capture_output=True, text=True, timeout=60)
    typed = r.stdout.rsplit("READY", 1)[-1]
    assert want in typed, r.stdout + r.stderr


needs_fish = pytest.mark.skipif(shutil.which("fish") is None and not os.environ.get("CI"),
                                reason="fish is not installed (apt-get install fish to run the fish completion tests)")
needs_tcsh = pytest.mark.skipif(shutil.which("tcsh") is None and not os.environ.get("CI"),
                                reason="tcsh is not installed (apt-get install tcsh to run the tcsh completion tests)")


@needs_fish
@pytest.mark.parametrize("line, want", [
    ("sac ", ["agent", "connect", "lease", "list", "reservations", "run"]),
    ("sac agent st", ["start", "status", "stop"]),
    ("sac agent status ", ["alpha", "bravo", "charlie", "delta"]),
    ("sac reservations book p --t", ["--time", "--tmux-server"]),
    ("sac reservations book --host agent --no-w", ["--no-wait"]),
    ("sac agent migrate x.yaml --reservation ", ["dev-pool", "lab-pool"]),
    ("scitex-hpc reservations get ", ["dev-pool", "lab-pool"]),
    ("scitex-hpc reservations ", ["book", "get", "list", "refresh", "release"]),
    ("sacgen schema --kind ", ["Agent", "Reservation"]),
    ("sacgen completion ", ["bash", "fish", "tcsh", "zsh"]),
    ("sac list --v", ["--verbose"]),
])
def test_fish_completes_in_a_real_fish(line, want, world, tmp_path):
    script = tmp_path / "sac.fish"
    script.write_text(fish_script())
    r = subprocess.run(["fish", "--no-config", "-c", f"source {script}; complete -C {line!r}"], env=world,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and not r.stderr, r.stderr
    assert sorted(w.split("\t")[0] for w in r.stdout.splitlines()) == want


@needs_fish
def test_fish_completes_files_where_a_file_is_asked(world, tmp_path):
    script = tmp_path / "sac.fish"
    script.write_text(fish_script())
    (tmp_path / "pool-file.yaml").write_text("")
    got = subprocess.run(["fish", "--no-config", "-c", f"source {script}; complete -C 'sacgen validate {tmp_path}/po'"],
                         env=world, capture_output=True, text=True, timeout=60).stdout
    assert f"{tmp_path}/pool-file.yaml" in got.split()


class Tcsh:
    """An interactive tcsh in a terminal (a tmux of its own) that has sourced the
    script: type a line and a TAB, read what the line became."""

    def __init__(self, tmp_path, env):
        self.tmux = ["tmux", "-S", str(tmp_path / "tcsh.sock")]
        self.env = dict(env, TMUX_TMPDIR=str(tmp_path))
        script = tmp_path / "sac.tcsh"
        script.write_text(tcsh_script())
        envs = [w for k, v in env.items() for w in ("-e", f"{k}={v}")]
        subprocess.run([*self.tmux, "new-session", "-d", "-x", "200", "-y", "20", *envs, "tcsh -f"], check=True,
                       env=self.env)
        subprocess.run([*self.tmux, "send-keys", f"set prompt='tcsh> '; source {script}; echo SOURCED", "Enter"],
                       check=True)
        self.wait(lambda screen: "\nSOURCED" in screen)

    def screen(self) -> str:
        return subprocess.run([*self.tmux, "capture-pane", "-p"], capture_output=True, text=True).stdout

    def wait(self, done, timeout=20):
        end = time.monotonic() + timeout
        while not done(self.screen()):
            if time.monotonic() > end:
                raise AssertionError(f"the terminal shows: {self.screen()!r}")
            time.sleep(0.05)

    def typed(self, line: str, want: str) -> str:
        subprocess.run([*self.tmux, "send-keys", line, "Tab"], check=True)
        try:
            # (the screen keeps no trailing blanks)
            self.wait(lambda screen: f"tcsh> {want.rstrip()}" in screen.splitlines())
        finally:
            subprocess.run([*self.tmux, "send-keys", "C-u"], check=True)
        return want

    def close(self):
        subprocess.run([*self.tmux, "kill-server"], capture_output=True)


@needs_tcsh
def test_tcsh_completes_in_a_real_tcsh(world, tmp_path):
    tcsh = Tcsh(tmp_path, world)
    try:
        for line, want in [("sac ag", "sac agent "), ("sac agent sto", "sac agent stop "),
                           ("sac agent status ch", "sac agent status charlie "),
                           ("sac reservations book p --tm", "sac reservations book p --tmux-server "),
                           ("sac reservations release l", "sac reservations release lab-pool "),
                           ("sac agent migrate x --res", "sac agent migrate x --reservation "),
                           ("sac agent migrate x --reservation d", "sac agent migrate x --reservation dev-pool "),
                           ("scitex-hpc reservations rel", "scitex-hpc reservations release "),
                           ("sacgen schema --kind R", "sacgen schema --kind Reservation "),
                           ("sacgen completion tc", "sacgen completion tcsh "),
                           ("sacgen build --ch", "sacgen build --check "),
                           ("sac list --verb", "sac list --verbose ")]:
            tcsh.typed(line, want)
    finally:
        tcsh.close()
