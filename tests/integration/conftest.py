"""Fixtures for the integration tests: a real SLURM cluster on this machine.

The session fixture ``cluster`` runs ``cluster/up.sh`` once (it is idempotent
and honours ``SAC_TESTCLUSTER_DIR``), reads the variables of the generated
``env.sh`` and hands out a :class:`Cluster`. The cluster is never brought down
here (``make cluster-down`` does that), but every job a test registers in the
``jobs`` fixture is cancelled at teardown, and jobs submitted during the session
that are still queued or running when it ends are cancelled too.

When an integration test fails, the tails of the daemon logs are appended to
its report.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import time
import uuid
from collections import deque
from pathlib import Path
from typing import Callable, Iterable, TypeVar

import pytest

REPO = Path(__file__).resolve().parents[2]
UP_SH = REPO / "cluster" / "up.sh"
DEFAULT_DIR = "/tmp/sac-testcluster"

# Job states after which a job never runs again (see squeue(1), JOB STATE CODES).
TERMINAL_STATES = frozenset(
    {
        "BOOT_FAIL",
        "CANCELLED",
        "COMPLETED",
        "DEADLINE",
        "FAILED",
        "NODE_FAIL",
        "OUT_OF_MEMORY",
        "PREEMPTED",
        "REVOKED",
        "TIMEOUT",
    }
)

# Variables of env.sh that are log files, by label.
LOG_VARIABLES = {
    "slurmctld": "SAC_TESTCLUSTER_SLURMCTLD_LOG",
    "slurmd n1": "SAC_TESTCLUSTER_SLURMD_N1_LOG",
    "slurmd n2": "SAC_TESTCLUSTER_SLURMD_N2_LOG",
    "sshd": "SAC_TESTCLUSTER_SSHD_LOG",
    "munged": "SAC_TESTCLUSTER_MUNGED_LOG",
}

T = TypeVar("T")


class ClusterTimeout(AssertionError):
    """A condition on the test cluster did not come true before its deadline."""


class ClusterError(RuntimeError):
    """The test cluster could not be asked (as opposed to: it said no)."""


def read_env_sh(path: Path) -> dict[str, str]:
    """The variables that sourcing ``path`` exports, as a dict."""
    proc = subprocess.run(
        ["env", "-i", "PATH=/usr/bin:/bin", "bash", "--noprofile", "--norc",
         "-c", '. "$1" && env -0', "bash", str(path)],
        capture_output=True, check=True, timeout=30,
    )
    env = {}
    for entry in proc.stdout.split(b"\0"):
        if not entry:
            continue
        key, _, value = entry.decode().partition("=")
        if key not in {"PATH", "PWD", "OLDPWD", "SHLVL", "_"}:
            env[key] = value
    return env


def tail(path: Path, n: int) -> str:
    try:
        with open(path, errors="replace") as f:
            return "".join(deque(f, maxlen=n))
    except OSError as e:
        return f"({e})\n"


class Cluster:
    """Handle on the running test cluster.

    Attributes: ``env`` (the variables of env.sh), ``dir`` (its directory),
    ``host`` (the ssh alias of the login node), ``ssh`` (argv of ``$SAC_SSH``),
    ``user`` / ``home`` (the login node's user and its home, under ``dir``),
    ``work`` (a world-writable directory under ``dir`` for job files).
    """

    def __init__(self, env: dict[str, str]):
        self.env = dict(env)
        self.dir = Path(env["SAC_TESTCLUSTER_DIR"])
        self.host = env["SAC_TEST_HOST"]
        self.ssh = shlex.split(env["SAC_SSH"])
        self.user = env["SAC_TEST_USER"]
        self.home = Path(env["SAC_TEST_HOME"])
        self.work = Path(env["SAC_TESTCLUSTER_WORK"])
        self.slurm_conf = Path(env["SLURM_CONF"])
        self.logs = {label: Path(env[var]) for label, var in LOG_VARIABLES.items() if var in env}
        # Entries of /tmp/tmux-0 when the session began (None: it did not exist).
        self.tmux0_before: set[str] | None = None

    # --- running commands -------------------------------------------------

    def environ(self, **extra: str) -> dict[str, str]:
        """This process's environment plus the cluster's (plus ``extra``)."""
        env = {k: v for k, v in os.environ.items() if k not in {"TMUX", "TMUX_PANE"}}
        env.update(self.env)
        env.update(extra)
        return env

    def run(self, argv: list[str], *, check: bool = False, timeout: float = 60,
            env: dict[str, str] | None = None, **kw) -> subprocess.CompletedProcess:
        """Run a local command with the cluster's environment (text, captured)."""
        kw.setdefault("text", True)
        if "stdout" not in kw and "stderr" not in kw:
            kw.setdefault("capture_output", True)
        proc = subprocess.run([str(a) for a in argv], env=env or self.environ(),
                              timeout=timeout, **kw)
        if check and proc.returncode != 0:
            raise ClusterError(f"{shlex.join(map(str, argv))} exited {proc.returncode}\n"
                               f"stdout: {proc.stdout}\nstderr: {proc.stderr}")
        return proc

    def ssh_argv(self, remote_command: str, *options: str) -> list[str]:
        return [*self.ssh, *options, self.host, remote_command]

    def ssh_run(self, remote_command: str, *options: str, check: bool = False,
                timeout: float = 60, **kw) -> subprocess.CompletedProcess:
        """Run ``remote_command`` (one shell string) on the login node over ssh."""
        return self.run(self.ssh_argv(remote_command, *options), check=check,
                        timeout=timeout, **kw)

    # --- waiting ------------------------------------------------------------

    def wait_for(self, predicate: Callable[[], T], timeout: float = 30,
                 what: str = "a condition", interval: float = 0.2) -> T:
        """Poll ``predicate`` until it returns something true; return that.

        Raises :class:`ClusterTimeout` (with the daemon log tails) at the deadline.
        """
        deadline = time.monotonic() + timeout
        while True:
            result = predicate()
            if result:
                return result
            if time.monotonic() >= deadline:
                raise ClusterTimeout(f"timed out after {timeout}s waiting for {what}\n"
                                     f"{self.log_tail()}")
            time.sleep(interval)

    # --- jobs -----------------------------------------------------------------

    def sbatch(self, *args: str, script: str | None = None) -> str:
        """``sbatch --parsable ARGS`` (the script on stdin if given); the job id."""
        proc = self.run(["sbatch", "--parsable", *args], input=script, check=True)
        return proc.stdout.strip().split(";")[0]

    def job_state(self, job_id: str) -> str | None:
        """The job's state (``squeue -h -t all -j J -o %T``).

        Finished jobs show their final state (COMPLETED, CANCELLED, ...) until
        slurmctld forgets them (MinJobAge, 60 s); then None. A failing squeue
        raises :class:`ClusterError`: "could not ask" is not "gone".
        """
        proc = self.run(["squeue", "-h", "-t", "all", "-j", str(job_id), "-o", "%T"], timeout=30)
        if proc.returncode != 0:
            if "Invalid job id" in proc.stderr:
                return None
            raise ClusterError(f"squeue -j {job_id} failed ({proc.returncode}): {proc.stderr}")
        lines = proc.stdout.split()
        return lines[0] if lines else None

    def job_field(self, job_id: str, fmt: str) -> str | None:
        """One squeue field of the job, e.g. ``%N`` (nodes) or ``%u`` (user)."""
        proc = self.run(["squeue", "-h", "-t", "all", "-j", str(job_id), "-o", fmt], timeout=30)
        out = proc.stdout.strip()
        return out.splitlines()[0] if proc.returncode == 0 and out else None

    def job_active(self, job_id: str) -> bool:
        """The job is known and not finished (pending, running, completing...)."""
        state = self.job_state(job_id)
        return state is not None and state not in TERMINAL_STATES

    def wait_job_state(self, job_id: str, states: str | Iterable[str],
                       timeout: float = 30) -> str:
        """Wait until the job is in one of ``states``; return that state.

        Fails at once when the job ends in a state that was not asked for.
        """
        wanted = {states} if isinstance(states, str) else set(states)
        seen = []

        def reached():
            state = self.job_state(job_id)
            if not seen or seen[-1] != state:
                seen.append(state)
            if state in wanted:
                return state
            if state in TERMINAL_STATES or (state is None and None not in wanted):
                raise AssertionError(
                    f"job {job_id} ended as {state} while waiting for {sorted(map(str, wanted))}"
                    f" (states seen: {seen})\n{self.log_tail()}")
            return None

        return self.wait_for(reached, timeout,
                             f"job {job_id} to reach {sorted(map(str, wanted))} (seen: {seen})")

    def wait_job_gone(self, job_id: str, timeout: float = 30) -> None:
        """Wait until the job is finished or forgotten."""
        self.wait_for(lambda: not self.job_active(job_id), timeout,
                      f"job {job_id} to finish")

    def scancel(self, *job_ids: str, signal: str | None = None,
                batch: bool = False) -> subprocess.CompletedProcess | None:
        """scancel the jobs (errors for jobs that already ended are ignored)."""
        if not job_ids:
            return None
        argv = ["scancel"]
        if signal:
            argv.append(f"--signal={signal}")
        if batch:
            argv.append("--batch")
        return self.run([*argv, *map(str, job_ids)], timeout=30)

    def active_jobs(self) -> set[str]:
        """Ids of every job that is not finished, of any user."""
        proc = self.run(["squeue", "-h", "-o", "%A"], check=True, timeout=30)
        return set(proc.stdout.split())

    # --- files and logs ---------------------------------------------------------

    def workdir(self, name: str = "test") -> Path:
        """A fresh directory under the cluster's work dir that every user may write."""
        safe = "".join(c if c.isalnum() or c in "-_." else "-" for c in name)[:60]
        path = self.work / f"{safe}-{uuid.uuid4().hex[:8]}"
        path.mkdir(parents=True)
        path.chmod(0o777)
        return path

    def ssh_logins(self) -> int:
        """How many ssh connections the login node has accepted so far (from
        the sshd log): the difference around an operation is the number of
        connections it opened (when nothing else talks to the cluster meanwhile)."""
        try:
            text = self.logs["sshd"].read_text(errors="replace")
        except OSError:
            return 0
        return text.count("Accepted publickey for ")

    def log_tail(self, n: int = 30) -> str:
        """The last ``n`` lines of the slurmctld, slurmd n1/n2, sshd and munged logs."""
        parts = []
        for label, path in self.logs.items():
            parts.append(f"----- {label}: {path} (last {n} lines) -----\n{tail(path, n)}")
        return "".join(parts)


_CLUSTER: Cluster | None = None


def _tmux0_entries() -> set[str] | None:
    try:
        return set(os.listdir("/tmp/tmux-0"))
    except FileNotFoundError:
        return None


@pytest.fixture(scope="session")
def cluster() -> Cluster:
    """The running test cluster (started by cluster/up.sh if need be)."""
    global _CLUSTER
    directory = Path(os.environ.get("SAC_TESTCLUSTER_DIR") or DEFAULT_DIR)
    proc = subprocess.run(["bash", str(UP_SH)], capture_output=True, text=True, timeout=900,
                          stdin=subprocess.DEVNULL)
    if proc.returncode != 0:
        pytest.fail(f"cluster/up.sh failed ({proc.returncode}):\n{proc.stdout}{proc.stderr}",
                    pytrace=False)
    c = Cluster(read_env_sh(directory.absolute() / "env.sh"))
    c.tmux0_before = _tmux0_entries()
    before = c.active_jobs()
    _CLUSTER = c
    yield c
    # Leave no job behind that this session submitted. Every test cleans up its
    # own jobs; this sweep is a safety net for CI, where the session is the
    # cluster's only user (elsewhere it could cancel another user's jobs).
    leftover = c.active_jobs() - before if os.environ.get("CI") else set()
    if leftover:
        c.scancel(*sorted(leftover))
        for job_id in leftover:
            try:
                c.wait_job_gone(job_id)
            except AssertionError:
                pass
    _CLUSTER = None


@pytest.fixture
def jobs(cluster: Cluster):
    """A list for the test to append the ids of the jobs it submits: at
    teardown they are cancelled and waited for until they are finished."""
    ids: list[str] = []
    yield ids
    if ids:
        cluster.scancel(*ids)
        for job_id in ids:
            cluster.wait_job_gone(job_id)


@pytest.fixture
def sac_env(cluster: Cluster, tmp_path: Path) -> dict[str, str]:
    """Environment for running sac/sacgen against the test cluster."""
    env = cluster.environ()
    env.pop("SCITEX_AGENT_CONTAINER_YAML_DIRS", None)
    env.update({
        "SAC_HOME": str(tmp_path / "sac-home"),
        "SAC_SSH": cluster.env["SAC_SSH"],
        "SAC_HOST": cluster.host,
        "SLURM_CONF": cluster.env["SLURM_CONF"],
        "TMUX_TMPDIR": cluster.env["TMUX_TMPDIR"],
    })
    return env


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.failed and _CLUSTER is not None:
        report.sections.append(("test cluster logs", _CLUSTER.log_tail()))
