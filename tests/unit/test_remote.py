"""The remote command that carries a program to the login node's bash."""

import subprocess

import pytest

from sacgen.remote import INLINE_MAX, Step, compose, parse, remote_command

HOSTILE = "it's \"q\" $(date) `id` \\ \n\ttab é ☃ $HOME ~ ; | & > < * ? [ ] { } !"


@pytest.mark.parametrize("shell", ["sh", "bash", "dash"])
def test_a_small_program_travels_inside_the_command_and_arrives_byte_for_byte(shell, tmp_path):
    """As sshd does: the login shell runs the command with -c; nothing on stdin."""
    script = "printf '%s' \"$1\" >\"$2\"\nprintf '@sac-result {\"ok\":true}\\n'\n"
    payload = compose([Step(script, (HOSTILE, str(tmp_path / "out")), "x")]).encode()
    command, stdin = remote_command(payload)
    assert stdin is None and "\n" not in command and "'" not in command
    proc = subprocess.run([shell, "-c", command], stdin=subprocess.DEVNULL, capture_output=True, timeout=30)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "out").read_text() == HOSTILE
    (step,) = parse(proc.stdout.decode(), 1, ["x"])
    assert step.status == 0 and step.result == {"ok": True}


def test_a_large_program_goes_on_stdin():
    payload = b"#" * (INLINE_MAX + 1)
    assert remote_command(payload) == ("bash -l -s", payload)
    command, stdin = remote_command(b"#" * INLINE_MAX)
    assert stdin is None and len(command) < 128 * 1024 - 64  # Linux's limit for one argument
