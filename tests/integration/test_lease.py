"""`scitex-hpc lease ...` and `sac lease ...` on the real cluster: book, get,
exec (output byte for byte, the command's exit status, hostile arguments, one
round trip), attach in a real terminal, cancel."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys

import pytest

from .sacutil import HOSTILE_FLAGS, Sac, unique

# Arguments no shell may touch: the hostile flags, a lone `--`, words that look
# like sac's own options, and bytes that are not UTF-8.
HOSTILE_ARGS = [os.fsencode(a) for a in HOSTILE_FLAGS] + [b"--", b"--node", b"-h", b"caf\xe9 \xff", b"\t\r"]


@pytest.fixture
def sac(cluster, sac_env, tmp_path):
    s = Sac(cluster, sac_env, tmp_path)
    s.pools = []
    yield s
    s.cleanup()
    if s.pools:
        cluster.run(["scancel", "-n", ",".join(f"sac-res-{p}" for p in s.pools)])


def run_bytes(sac, *args, prog="sac", input=b""):
    """sac (or scitex-hpc) with bytes in and out, as a user's shell calls it."""
    code = {"sac": "from sacgen.cli.sac import console",
            "scitex-hpc": "from sacgen.cli.sac import hpc_console as console"}[prog]
    argv = [os.fsencode(sys.executable), b"-c", f"{code}; console()".encode(),
            *(a if isinstance(a, bytes) else os.fsencode(a) for a in args)]
    return subprocess.run(argv, env=sac.env, capture_output=True, timeout=120, input=input, cwd=sac.tmp)


def book(cluster, sac, prog="scitex-hpc"):
    pool = unique("lease")
    sac.pools.append(pool)
    r = sac("lease", "book", pool, "--host", cluster.host, "--cpus", "1", "--time", "30", prog=prog)
    assert r.returncode == 0, r.stderr
    assert f"{pool}: booked" in r.stdout and "RUNNING" in r.stdout, r.stdout
    return pool


def test_lease_book_get_exec_cancel(cluster, sac):
    pool = book(cluster, sac)
    got = sac.json("lease", "get", pool, prog="scitex-hpc")
    assert got["state"] == "RUNNING" and got["job_id"] and got["node"], got
    job, node = got["job_id"], got["node"]
    assert cluster.job_state(job) == "RUNNING"
    # Both spellings see the same pool.
    assert sac.json("reservations", "get", pool)["job_id"] == job
    assert [r["name"] for r in sac.json("lease", "list")] == [pool]

    # Output and exit status pass through, in one round trip each.
    before = sac.ssh_calls()
    r = run_bytes(sac, "lease", "exec", pool, "--", "sh", "-c", 'echo "out $SLURM_JOB_ID $SLURMD_NODENAME"; '
                  "echo err >&2; exit 7", prog="scitex-hpc")
    assert sac.ssh_calls() - before == 1, "exec is one round trip"
    assert (r.returncode, r.stdout) == (7, f"out {job} {node}\n".encode()), r
    assert r.stderr.endswith(b"err\n") and b"sac:" not in r.stderr, r.stderr
    r = run_bytes(sac, "lease", "exec", pool, "--", "true")
    assert (r.returncode, r.stdout, r.stderr) == (0, b"", b"")
    for status in (1, 2, 3, 255):
        r = run_bytes(sac, "lease", "exec", pool, "--", "sh", "-c", f"exit {status}")
        assert (r.returncode, r.stdout, r.stderr) == (status, b"", b""), r

    # Arguments reach the command byte for byte; so does its output (NUL bytes,
    # bytes that are not UTF-8, CR, no final newline, a start of sac's own end mark).
    r = run_bytes(sac, "lease", "exec", pool, "--", "printf", b"%s\\0", *HOSTILE_ARGS)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split(b"\0")[:-1] == HOSTILE_ARGS
    assert not cluster.home.joinpath("PWNED").exists()
    r = run_bytes(sac, "lease", "exec", pool, "--", "printf", b"\\000\\001\\377\\r\\n\xe9@sac-exit")
    assert (r.returncode, r.stdout) == (0, b"\0\1\xff\r\n\xe9@sac-exit"), r
    big = run_bytes(sac, "lease", "exec", pool, "--", "head", "-c", "3000000", "/dev/urandom")
    assert big.returncode == 0 and len(big.stdout) == 3000000, big.stderr
    # The command's stdin is /dev/null: it never waits for the terminal.
    r = run_bytes(sac, "lease", "exec", pool, "--", "cat", input=b"not for the command\n")
    assert (r.returncode, r.stdout) == (0, b"")
    # A command that is not there is the command's failure (127), as in a shell.
    r = run_bytes(sac, "lease", "exec", pool, "--", "no-such-command-here")
    assert r.returncode == 127 and b"sac:" not in r.stderr, r

    # --shell: from a login shell (its builtins and functions are there).
    r = run_bytes(sac, "lease", "exec", pool, "--shell", "--", "shopt", "-q", "login_shell")
    assert r.returncode == 0, r.stderr
    r = run_bytes(sac, "lease", "exec", pool, "--", "shopt", "-q", "login_shell")
    assert r.returncode == 127, r
    r = run_bytes(sac, "lease", "exec", pool, "--shell", "--", "printf", b"%s\\0", *HOSTILE_ARGS)
    assert r.returncode == 0 and r.stdout.split(b"\0")[:-1] == HOSTILE_ARGS, r.stderr

    # --node: one of the job's nodes, or a usage error that names them.
    r = run_bytes(sac, "lease", "exec", pool, "--node", node, "--", "sh", "-c", "echo $SLURMD_NODENAME")
    assert (r.returncode, r.stdout) == (0, f"{node}\n".encode()), r
    other = "n2" if node == "n1" else "n1"
    r = run_bytes(sac, "lease", "exec", pool, "--node", other, "--", "true")
    assert r.returncode == 2 and r.stdout == b"", r
    assert f"sac: {pool}: --node {other} is not a node of reservation '{pool}' (job {job} runs on {node})" \
        in r.stderr.decode(), r.stderr
    r = run_bytes(sac, "lease", "exec", pool, "--node", "n1;id", "--", "true")
    assert r.returncode == 2 and b"is not a node name" in r.stderr
    r = run_bytes(sac, "lease", "exec", pool, "--")
    assert r.returncode == 2 and b"give the command to run after --" in r.stderr

    # cancel leaves nothing queued or running.
    r = sac("lease", "cancel", pool, "--json", prog="scitex-hpc")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["cancelled"] == [job]
    cluster.wait_job_gone(job)
    assert cluster.run(["squeue", "-h", "-n", f"sac-res-{pool}", "-o", "%i"], check=True).stdout.strip() == ""
    assert sac.json("lease", "list") == []


def test_exec_into_a_reservation_that_is_not_running_fails_clearly(cluster, sac):
    pool = book(cluster, sac, prog="sac")
    job = sac.json("lease", "get", pool)["job_id"]
    cluster.run(["scontrol", "suspend", job], check=True)
    try:
        r = run_bytes(sac, "lease", "exec", pool, "--", "echo", "never")
        assert r.returncode == 1 and r.stdout == b"", r
        assert (f"sac: {pool}: reservation '{pool}' is not running on" in r.stderr.decode()
                and f"(job {job} SUSPENDED)" in r.stderr.decode()), r.stderr
    finally:
        cluster.run(["scontrol", "resume", job], check=True)
    assert sac("lease", "cancel", pool).returncode == 0
    cluster.wait_job_gone(job)
    # Gone from here: not known; booked elsewhere but not running: said so.
    r = run_bytes(sac, "lease", "exec", pool, "--", "true")
    assert r.returncode == 1 and f"reservation '{pool}' is not known here" in r.stderr.decode()
    r = sac("lease", "refresh", pool, "--host", cluster.host)
    assert r.returncode == 1 and "nothing was adopted" in r.stderr
    # An unreachable host is exit 3, and says so.
    pool2 = unique("gone")
    state = json.loads((sac.home / "state.json").read_text()) if (sac.home / "state.json").exists() else None
    assert state is None or pool2 not in state.get("reservations", {})
    r = run_bytes(sac, "lease", "exec", pool2, "--", "true")
    assert r.returncode == 1 and b"is not known here" in r.stderr


def test_lease_attach_in_a_real_pty_runs_a_typed_command_on_the_node(cluster, sac, tmp_path):
    pool = book(cluster, sac, prog="sac")
    got = sac.json("lease", "get", pool)
    job, node = got["job_id"], got["node"]
    sock = tmp_path / "term.sock"
    envs = []
    for k, v in sac.env.items():
        envs += ["-e", f"{k}={v}"]
    cmd = (f"cd {shlex.quote(str(tmp_path))} && {sys.executable} -c "
           f"'from sacgen.cli.sac import hpc_console; hpc_console()' lease attach {pool}; "
           "echo ATTACH-EXITED $?; sleep 60")
    terminal = ["tmux", "-S", str(sock)]
    subprocess.run([*terminal, "new-session", "-d", "-x", "150", "-y", "40", *envs, cmd], check=True,
                   env=dict(sac.env, TMUX_TMPDIR=str(tmp_path)))

    def screen():
        return subprocess.run([*terminal, "capture-pane", "-p", "-J"], capture_output=True, text=True).stdout

    try:
        # The shell answers a typed command from inside the job, on its node.
        def answered():
            subprocess.run([*terminal, "send-keys", "-l", 'echo "IN-JOB=$SLURM_JOB_ID ON=$(hostname -s)/$SLURMD_NODENAME"'],
                           check=True)
            subprocess.run([*terminal, "send-keys", "Enter"], check=True)
            return f"IN-JOB={job} ON=" in screen()
        cluster.wait_for(answered, 30, "the attached shell to answer", interval=1)
        assert f"/{node}" in screen().split(f"IN-JOB={job} ON=")[-1].splitlines()[0], screen()
        subprocess.run([*terminal, "send-keys", "exit 5", "Enter"], check=True)
        cluster.wait_for(lambda: "ATTACH-EXITED 5" in screen(), 20, "exit returning to the laptop")
    finally:
        subprocess.run([*terminal, "kill-server"], capture_output=True)
    # Without a terminal: refused, nothing run.
    r = sac("lease", "attach", pool)
    assert r.returncode == 2 and "attach needs a terminal" in r.stderr
    assert sac("lease", "cancel", pool).returncode == 0
    cluster.wait_job_gone(job)
