"""What `sac` says while it works, on the real cluster: `book` reporting while
its job pends (in a real terminal, and off one), and -v."""

from __future__ import annotations

import json
import queue
import re
import subprocess
import sys
import threading

import pytest

from .sacutil import Sac, unique

SAC = f"{sys.executable} -c 'from sacgen.cli.sac import console; console()'"


@pytest.fixture
def sac(cluster, sac_env, tmp_path):
    s = Sac(cluster, sac_env, tmp_path)
    pools: list[str] = []
    s.pools = pools
    yield s
    s.cleanup()
    if pools:
        cluster.run(["scancel", "-n", ",".join(f"sac-res-{p}" for p in pools)])


def blockers(cluster, jobs) -> list[str]:
    """Jobs that take every CPU still free (other jobs may hold some), running:
    a booking behind them pends for Resources until they are cancelled."""
    held = []
    for line in cluster.run(["sinfo", "-N", "-h", "-o", "%N %C"], check=True).stdout.split("\n"):
        if not line.strip():
            continue
        node, cpus = line.split()
        idle = int(cpus.split("/")[1])
        if idle and node not in (n for n, _ in held):
            job = cluster.sbatch("-w", node, "-c", str(idle), "--job-name=ux-blocker", "--wrap", "sleep 600")
            jobs.append(job)
            held.append((node, job))
    for _, job in held:
        cluster.wait_job_state(job, "RUNNING", timeout=60)
    return [job for _, job in held]


class Lines:
    """The lines of a pipe as they come, each awaited with a deadline."""

    def __init__(self, stream):
        self.q: queue.Queue = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=lambda: [self.q.put(line) for line in stream] + [self.q.put("")],
                         daemon=True).start()

    def next(self, timeout: float = 30) -> str:
        try:
            line = self.q.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"no further line within {timeout} s; so far: {self.seen}") from None
        self.seen.append(line)
        return line

    def rest(self) -> str:
        out = []
        while (line := self.next(60)):
            out.append(line)
        return "".join(out)


class Terminal:
    """A terminal of the laptop's own (a private tmux server, 150 columns), its
    screen read with capture-pane."""

    def __init__(self, tmp_path, env):
        self.argv = ["tmux", "-S", str(tmp_path / "term.sock")]
        self.env = dict(env, TMUX_TMPDIR=str(tmp_path))
        self.tmp = tmp_path

    def start(self, command: str) -> None:
        envs = []
        for k, v in self.env.items():
            envs += ["-e", f"{k}={v}"]
        subprocess.run([*self.argv, "new-session", "-d", "-x", "150", "-y", "30", *envs,
                        f"cd {self.tmp} && {command}; echo EXITED $?; sleep 600"], check=True, env=self.env)

    def screen(self) -> str:
        return subprocess.run([*self.argv, "capture-pane", "-p", "-J"], capture_output=True, text=True).stdout

    def close(self) -> None:
        subprocess.run([*self.argv, "kill-server"], capture_output=True)


def test_book_shows_its_pending_job_in_place_on_a_terminal_and_a_line_per_change_elsewhere(cluster, sac, jobs,
                                                                                             tmp_path):
    held = blockers(cluster, jobs)
    term = Terminal(tmp_path, sac.env)
    pool, plain = unique("uxtty"), unique("uxpipe")
    sac.pools += [pool, plain]
    waiting = re.compile(rf"^{pool}: job (\d+) PENDING \((\w+)\), waiting (\d+) s\s*$", re.M)
    term.start(f"{SAC} reservations book {pool} --host {cluster.host} --cpus 1 --time 10 --tmux-server sac "
               "--wait-timeout 120")
    try:
        # In a terminal: the job id at once, then one line redrawn in place.
        first = cluster.wait_for(lambda: waiting.search(term.screen()), 30, "the in-place line on the terminal")
        job, reason = first.group(1), first.group(2)
        assert reason in ("Resources", "Priority"), term.screen()
        assert cluster.job_state(job) == "PENDING"
        later = cluster.wait_for(lambda: (m := waiting.search(term.screen())) and int(m.group(3)) >= int(
            first.group(3)) + 2 and m, 15, "the seconds counting on the same line")
        screen = term.screen()
        assert len(waiting.findall(screen)) == 1 and later.group(1) == job, screen
        assert screen.index(f"booking {pool} on {cluster.host}") < screen.index(f"{pool}: job {job} PENDING")

        # Off a terminal (stderr a pipe): a line per change, no redrawing.
        proc = subprocess.Popen([sys.executable, "-c", "from sacgen.cli.sac import console; console()",
                                 "reservations", "book", plain, "--host", cluster.host, "--cpus", "1", "--time",
                                 "10", "--wait-timeout", "120"], env=sac.env, cwd=tmp_path,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            err = Lines(proc.stderr)
            # Before any wait: the warning of a booking without --tmux-server.
            assert err.next() == f"sac: {plain}: booking without --tmux-server: tenants cannot run in it\n"
            assert err.next().startswith(f"booking {plain} on {cluster.host}; waiting up to 120 s")
            submitted = re.fullmatch(rf"{plain}: job (\d+) submitted\n", err.next())
            assert submitted, "the job id at once"
            pending = re.fullmatch(rf"{plain}: job {submitted.group(1)} PENDING \((\w+)\) after \d+ s\n",
                                   err.next())
            assert pending and cluster.job_state(submitted.group(1)) == "PENDING"
        finally:
            # The nodes free: both bookings run.
            cluster.scancel(*held)
        rest = err.rest()
        out = proc.stdout.read()
        assert proc.wait(timeout=60) == 0, rest
        assert "\r" not in rest and "\033" not in rest
        assert re.fullmatch(rf"{plain}: booked, job {submitted.group(1)} RUNNING on n\d \({cluster.host}\)\n", out)
        cluster.wait_for(lambda: "EXITED 0" in term.screen(), 60, "the booking on the terminal to end")
        screen = term.screen()
        assert f"{pool}: booked, job {job} RUNNING on n" in screen
        assert not waiting.search(screen), "the in-place line is taken away once the job runs: " + screen
    finally:
        term.close()
    assert sac("reservations", "release", pool).returncode == 0
    assert sac("reservations", "release", plain).returncode == 0


def test_verbose_against_the_cluster_says_the_ssh_command_and_the_times_and_keeps_stdout(cluster, sac):
    pool = unique("uxv")
    sac.pools.append(pool)
    r = sac("reservations", "book", pool, "--host", cluster.host, "--cpus", "1", "--time", "10", "--tmux-server",
            "sac", "--no-wait", "--json", "-v")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["ok"] is True and "sac -v" not in r.stdout
    lines = r.stderr.splitlines()
    assert any(re.fullmatch(rf"sac -v: {cluster.host}: \S+/ssh-wrapper -o BatchMode=yes .* -- {cluster.host} "
                            r"'echo <program: \d+ bytes of base64> \| base64 -d \| bash -l -s'", ln)
               for ln in lines), r.stderr
    assert any(re.fullmatch(rf"sac -v: {cluster.host}: program \d+ bytes, 1 step\(s\) \({pool}\), inside the "
                            "command line", ln) for ln in lines), r.stderr
    assert any(re.fullmatch(rf"sac -v: {cluster.host}: ssh exit 0; connect and login shell \d+\.\d{{3}} s, "
                            r"program \d+\.\d{3} s, parse \d+\.\d{3} s", ln) for ln in lines), r.stderr
    assert any(ln.startswith(f"sac -v: {cluster.host}: ssh's stderr: ") for ln in lines), r.stderr
    before = sac.ssh_calls()
    r = sac("-v", "reservations", "get", pool, "--json", env={"SAC_VERBOSE": "1"})
    assert r.returncode == 0 and json.loads(r.stdout)["name"] == pool
    assert sac.ssh_calls() - before == 1
    assert sac("reservations", "release", pool).returncode == 0
