"""-v / --verbose and SAC_VERBOSE=1: ssh command lines, the program's size, ssh's
whole stderr and the times, on stderr only; nothing of it by default."""

import os
import subprocess
import sys

import pytest

# A $SAC_SSH that runs the program here, as the login node would, and says
# three lines on stderr, as ssh does with a banner and warnings.
FAKE_SSH = r"""#!/bin/bash
echo "Warning: Permanently added 'h' to the list of known hosts." >&2
echo "first line of the banner" >&2
cmd=${@: -1}
if [[ $cmd == "bash -l -s" ]]; then prog=$(cat); else prog=$(bash -c "${cmd% | bash -l -s}"); fi
bash -c "$prog"
echo "last words of ssh" >&2
"""


@pytest.fixture
def fake_ssh(tmp_path):
    fake = tmp_path / "ssh"
    fake.write_text(FAKE_SSH)
    fake.chmod(0o755)
    script = tmp_path / "hello.sh"
    script.write_text("echo hello from the script\n")
    env = {k: v for k, v in os.environ.items() if k != "SAC_VERBOSE"}
    env.update(SAC_SSH=str(fake), SAC_SSH_CONTROL="0", SAC_HOME=str(tmp_path / "home"))
    return env, script


def sac(env, *args, prog="sac"):
    entry = "console" if prog == "sac" else "hpc_console"
    return subprocess.run([sys.executable, "-c", f"from sacgen.cli.sac import {entry}; {entry}()", *args],
                          env=env, capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("how", ["-v before", "--verbose after", "SAC_VERBOSE=1"])
def test_verbose_says_the_ssh_command_its_whole_stderr_and_the_times_on_stderr(how, fake_ssh):
    env, script = fake_ssh
    args = ["run", str(script), "--host", "h"]
    if how == "-v before":
        args = ["-v", *args]
    elif how == "--verbose after":
        args = [*args, "--verbose"]
    else:
        env = dict(env, SAC_VERBOSE="1")
    r = sac(env, *args)
    assert r.returncode == 0, r.stderr
    assert r.stdout == "hello from the script\n"  # stdout as without -v
    lines = r.stderr.splitlines()
    command = next(ln for ln in lines if ln.startswith("sac -v: h: "))
    # The ssh command line, as a shell's words (a user's script goes on stdin).
    assert command.startswith(f"sac -v: h: {env['SAC_SSH']} -o BatchMode=yes -o ConnectTimeout=10 ")
    assert command.endswith(" -T -x -a -- h 'bash -l -s'")
    assert any(ln.startswith("sac -v: h: program ") and "1 step(s) (hello.sh), on stdin" in ln for ln in lines)
    times = next(ln for ln in lines if ln.startswith("sac -v: h: ssh exit 0; "))
    assert "connect and login shell " in times and ", program " in times and ", parse " in times
    # ssh's stderr, every line of it.
    assert "sac -v: h: ssh's stderr: 3 line(s):" in lines
    for said in ("Warning: Permanently added 'h' to the list of known hosts.", "first line of the banner",
                 "last words of ssh"):
        assert f"sac -v:   {said}" in lines


def test_without_verbose_there_is_not_a_word_of_it(fake_ssh):
    env, script = fake_ssh
    for value in (None, "0", ""):
        r = sac(env if value is None else dict(env, SAC_VERBOSE=value), "run", str(script), "--host", "h")
        assert r.returncode == 0 and "sac -v" not in r.stderr + r.stdout


def test_verbose_shows_the_whole_stderr_of_a_failed_connection_whose_message_keeps_one_line(tmp_path):
    fake = tmp_path / "ssh"
    fake.write_text("#!/bin/bash\necho 'debug1: one' >&2\necho 'debug1: two' >&2\n"
                    "echo 'ssh: connect to host h port 22: Connection refused' >&2\nexit 255\n")
    fake.chmod(0o755)
    env = dict(os.environ, SAC_SSH=str(fake), SAC_SSH_CONTROL="0", SAC_HOME=str(tmp_path))
    r = sac(env, "reservations", "refresh", "pool", "--host", "h")
    assert r.returncode == 3
    assert "sac -v" not in r.stderr and "debug1" not in r.stderr and "Connection refused" in r.stderr
    r = sac(env, "reservations", "refresh", "pool", "--host", "h", "-v", prog="scitex-hpc")
    assert r.returncode == 3
    assert "sac -v:   debug1: one" in r.stderr.splitlines() and "sac -v:   debug1: two" in r.stderr.splitlines()
    assert "the program never began" in r.stderr
    # A program that travels inside the command line is shown by its size.
    command = next(ln for ln in r.stderr.splitlines() if ln.startswith("sac -v: h: ") and " -- h " in ln)
    assert " -- h 'echo <program: " in command and " bytes of base64> | base64 -d | bash -l -s'" in command
    assert any(ln.startswith("sac -v: h: program ") and ln.endswith("1 step(s) (pool), inside the command line")
               for ln in r.stderr.splitlines())


def test_verbose_is_a_flag_of_every_command():
    import argparse

    from sacgen.cli.parsers import hpc_parser, sac_parser

    def leaves(parser, path):
        subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        if not subs:
            yield path, parser
        for action in subs:
            for name, sub in action.choices.items():
                yield from leaves(sub, f"{path} {name}")

    for top in (sac_parser(), hpc_parser()):
        for path, parser in leaves(top, top.prog):
            assert "--verbose" in parser._option_string_actions, path
            assert "-v" in parser._option_string_actions, path
