"""Faults on the real cluster: nothing lost, "could not ask" never read as "not running"."""

from __future__ import annotations

import contextlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from .sacutil import Sac, install_stub_agent, unique


@pytest.fixture
def sac(cluster, sac_env, tmp_path):
    s = Sac(cluster, sac_env, tmp_path)
    yield s
    s.cleanup()


@pytest.fixture(scope="module")
def stub(cluster):
    return install_stub_agent(cluster)


def spec(cluster, stub):
    return {"runtime": "slurm", "model": "opus", "claude": {"command": stub},
            "slurm": {"host": cluster.host, "time_limit": "30", "resubmit_before": 60}}


def running(cluster, sac, name):
    return cluster.wait_for(lambda: (lambda s: s if s["state"] == "RUNNING" and s["session_alive"] else None)(
        sac.status(name)), 40, f"{name} running")


def _pid_alive(pid: int) -> bool:
    try:
        stat = subprocess.run(["ps", "-o", "stat=", "-p", str(pid)], capture_output=True, text=True).stdout.strip()
    except OSError:
        return False
    return bool(stat) and not stat.startswith("Z")


@pytest.fixture
def slurmctld_down(cluster):
    """Stops slurmctld for the duration of the test, then brings it back."""
    pid = int((cluster.dir / "run" / "slurmctld.pid").read_text())
    os.kill(pid, signal.SIGTERM)
    cluster.wait_for(lambda: not _pid_alive(pid), 20, "slurmctld to stop")
    try:
        yield
    finally:
        subprocess.run(["bash", "cluster/up.sh"], capture_output=True, timeout=120,
                       cwd=os.path.dirname(os.path.dirname(os.path.dirname(__file__))))


def test_slurmctld_down_start_status_stop(cluster, sac, stub, slurmctld_down):
    started = unique("ctl")
    sac.agent_yaml(started, spec(cluster, stub))
    reg_before = (sac.home / "state.json").read_text() if (sac.home / "state.json").exists() else None
    r = sac("agent", "start", started, timeout=180)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "could not ask squeue" in r.stderr or "sbatch failed" in r.stderr
    assert "Traceback" not in r.stderr
    now = (sac.home / "state.json").read_text() if (sac.home / "state.json").exists() else None
    assert now == reg_before, "the registry must not change when start failed"
    st = json.loads(sac("agent", "status", started, "--json", timeout=180).stdout)
    assert st["state"] == "UNKNOWN" and st["session_alive"] is None
    assert "could not ask" in st["error"]
    r = sac("agent", "stop", started, timeout=180)
    assert r.returncode == 1 and "could not ask squeue" in r.stderr


def test_unreachable_login_node_exit_3_nothing_recorded(cluster, sac, stub, tmp_path):
    name = unique("down")
    sac.agent_yaml(name, spec(cluster, stub))
    bad_cfg = tmp_path / "ssh_config"
    bad_cfg.write_text("\n".join(ln if not ln.strip().startswith("Port") else "  Port 1"
                                 for ln in (cluster.dir / "ssh_config").read_text().splitlines()) + "\n")
    r = sac("agent", "start", name, env={"SAC_SSH": f"ssh -F {bad_cfg}"})
    assert r.returncode == 3
    assert cluster.host in r.stderr and "cannot reach host" in r.stderr
    assert not (sac.home / "state.json").exists()
    r = sac("agent", "status", name, env={"SAC_SSH": f"ssh -F {bad_cfg}"})
    assert r.returncode == 3 and "UNKNOWN" in r.stdout


def test_a_temporary_folder_too_long_for_a_socket_does_not_break_ssh(cluster, sac, tmp_path):
    """A long $TMPDIR (macOS has one) made OpenSSH's master socket path too long:
    every connection failed with exit 255. sac picks a folder whose path fits."""
    long_tmp = tmp_path / ("t" * 70)
    long_tmp.mkdir()
    script = tmp_path / "hello.sh"
    script.write_text("#!/bin/bash\necho \"hello from $(hostname)\"\n")
    env = {"XDG_RUNTIME_DIR": str(long_tmp), "TMPDIR": str(long_tmp)}
    folder = f"/tmp/sac-ssh-{os.getuid()}"
    ssh = [*cluster.ssh, "-o", f"ControlPath={folder}/%C"]
    # The folder is everyone's (of this user): close only a master of this test.
    had_master = subprocess.run([*ssh, "-O", "check", cluster.host], capture_output=True).returncode == 0
    try:
        r = sac("run", script, "--host", cluster.host, env=env)
        assert r.returncode == 0, r.stderr
        assert "hello from" in r.stdout
        assert not (long_tmp / f"sac-ssh-{os.getuid()}").exists()
        # The connection it left for the next command is in /tmp's folder.
        assert subprocess.run([*ssh, "-O", "check", cluster.host], capture_output=True).returncode == 0
        r = sac("run", script, "--host", cluster.host, env=env)
        assert r.returncode == 0 and "hello from" in r.stdout, r.stderr
    finally:
        if not had_master:
            subprocess.run([*ssh, "-O", "exit", cluster.host], capture_output=True)


def test_an_ssh_config_written_for_interactive_logins_does_not_get_in_the_way(cluster, sac, tmp_path):
    """A Host entry that runs tmux on login (RemoteCommand, RequestTTY) and forwards
    a port the user's own session already holds (ExitOnForwardFailure): plain
    `ssh host cmd` fails with either; sac's connections leave both out."""
    import socket

    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen()
    port = busy.getsockname()[1]
    config = tmp_path / "ssh_config"
    extra = (f"    RemoteCommand tmux new-session -A -s main\n    RequestTTY yes\n"
             f"    LocalForward {port} 127.0.0.1:22\n    ExitOnForwardFailure yes\n    ForwardX11 yes\n")
    config.write_text((cluster.dir / "ssh_config").read_text().replace("Host sac-login\n", "Host sac-login\n" + extra))
    script = tmp_path / "hello.sh"
    script.write_text("#!/bin/bash\necho \"hello from $(hostname)\"\n")
    runtime = Path(tempfile.mkdtemp(prefix="sc", dir="/tmp"))  # a master of this test's own
    try:
        plain = subprocess.run(["ssh", "-F", str(config), "-T", cluster.host, "true"], capture_output=True,
                               text=True, timeout=30)
        assert plain.returncode == 255, "the config should break a plain ssh call"
        for control in ("0", "1", "1"):  # no reuse; a new master; riding on it
            r = sac("run", script, "--host", cluster.host, env={"SAC_SSH": f"ssh -F {config}",
                                                                "SAC_SSH_CONTROL": control,
                                                                "XDG_RUNTIME_DIR": str(runtime)})
            assert r.returncode == 0 and "hello from" in r.stdout, (control, r.stderr)
    finally:
        busy.close()
        subprocess.run(["ssh", "-F", str(config), "-o", f"ControlPath={runtime}/sac-ssh-{os.getuid()}/%C",
                        "-O", "exit", cluster.host], capture_output=True)
        shutil.rmtree(runtime, ignore_errors=True)


def test_sac_connect_logs_in_once_with_the_terminal_and_later_calls_share_it(cluster, sac, tmp_path):
    """A login that must ask something (here a key's passphrase; on many clusters
    a one-time code) fails in sac's batch calls; `sac connect` answers it once
    (ssh's askpass stands in for the user at the terminal) and later calls ride
    on that connection until `--close`."""
    key = tmp_path / "key"
    key.write_bytes((cluster.dir / "ssh" / "id_ed25519").read_bytes())
    key.chmod(0o600)
    subprocess.run(["ssh-keygen", "-q", "-p", "-P", "", "-N", "pass phrase", "-f", str(key)], check=True,
                   capture_output=True)
    config = tmp_path / "ssh_config"
    config.write_text((cluster.dir / "ssh_config").read_text().replace(
        str(cluster.dir / "ssh" / "id_ed25519"), str(key)))
    askpass = tmp_path / "askpass"
    askpass.write_text("#!/bin/sh\necho 'pass phrase'\n")
    askpass.chmod(0o755)
    script = tmp_path / "hello.sh"
    script.write_text("#!/bin/bash\necho \"hello from $(hostname)\"\n")
    runtime = Path(tempfile.mkdtemp(prefix="sc", dir="/tmp"))  # a master of this test's own
    env = {"SAC_SSH": f"ssh -F {config}", "XDG_RUNTIME_DIR": str(runtime)}
    try:
        r = sac("run", script, "--host", cluster.host, env=env)
        assert r.returncode == 3 and "Permission denied" in r.stderr, r.stderr
        r = sac("connect", cluster.host, "--check", env=env)
        assert r.returncode == 1 and "not connected" in r.stdout
        r = sac("connect", cluster.host, "--persist", "5m", timeout=60,
                env=dict(env, SSH_ASKPASS=str(askpass), SSH_ASKPASS_REQUIRE="force"))
        assert r.returncode == 0 and "connected" in r.stdout, r.stderr
        for _ in range(2):
            r = sac("run", script, "--host", cluster.host, env=env)
            assert r.returncode == 0 and "hello from" in r.stdout, r.stderr
        r = sac("connect", cluster.host, env=env)
        assert r.returncode == 0 and "already connected" in r.stdout
        assert sac("connect", cluster.host, "--check", env=env).returncode == 0
        r = sac("connect", cluster.host, "--close", env=env)
        assert r.returncode == 0 and "closed" in r.stdout
        assert sac("connect", cluster.host, "--check", env=env).returncode == 1
        assert sac("run", script, "--host", cluster.host, env=env).returncode == 3
    finally:
        subprocess.run(["ssh", "-F", str(config), "-o", f"ControlPath={runtime}/sac-ssh-{os.getuid()}/%C",
                        "-O", "exit", cluster.host], capture_output=True)
        shutil.rmtree(runtime, ignore_errors=True)


def test_a_shared_connection_gone_silent_is_given_up_not_waited_on(cluster, sac, tmp_path):
    """A laptop that slept or changed networks leaves its shared connection
    silent: calls riding on it hung for as long as TCP retries (minutes). Here the
    connection's proxy is stopped: the master gives up after 3 unanswered probes
    (one per SAC_SSH_TIMEOUT) and the call goes on over a new connection."""
    repo = Path(__file__).resolve().parents[2]
    pidfile = tmp_path / "proxy.pid"
    config = tmp_path / "ssh_config"
    proxy = (f"ProxyCommand sh -c 'echo $$ >>{pidfile}; "
             f"exec {sys.executable} {repo / 'bench' / 'delay_proxy.py'} 127.0.0.1 %p 0'")
    config.write_text((cluster.dir / "ssh_config").read_text().replace("Host sac-login\n",
                                                                       f"Host sac-login\n    {proxy}\n"))
    script = tmp_path / "hello.sh"
    script.write_text("#!/bin/bash\necho \"hello from $(hostname)\"\n")
    runtime = Path(tempfile.mkdtemp(prefix="sc", dir="/tmp"))
    env = {"SAC_SSH": f"ssh -F {config}", "XDG_RUNTIME_DIR": str(runtime), "SAC_SSH_TIMEOUT": "2"}
    ctl = ["ssh", "-F", str(config), "-o", f"ControlPath={runtime}/sac-ssh-{os.getuid()}/%C"]
    stopped = None
    try:
        r = sac("run", script, "--host", cluster.host, env=env)
        assert r.returncode == 0 and "hello from" in r.stdout, r.stderr
        assert subprocess.run([*ctl, "-O", "check", cluster.host], capture_output=True).returncode == 0
        stopped = int(pidfile.read_text().split()[0])
        os.kill(stopped, signal.SIGSTOP)
        r = sac("run", script, "--host", cluster.host, env=env, timeout=40)
        assert r.returncode == 0 and "hello from" in r.stdout, r.stderr
    finally:
        if stopped:
            os.kill(stopped, signal.SIGCONT)
        subprocess.run([*ctl, "-O", "exit", cluster.host], capture_output=True)
        shutil.rmtree(runtime, ignore_errors=True)


def test_two_starts_at_once_one_job(cluster, sac, stub):
    name = unique("race")
    path = sac.agent_yaml(name, spec(cluster, stub))
    code = "from sacgen.cli.sac import console; console()"
    procs = [subprocess.Popen([sys.executable, "-c", code, "agent", "start", str(path)], env=sac.env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outs = [p.communicate(timeout=120) + (p.returncode,) for p in procs]
    codes = sorted(o[2] for o in outs)
    assert codes == [0, 1], outs
    loser = next(o for o in outs if o[2] == 1)
    assert "already running" in loser[0] + loser[1]
    jobs = cluster.run(["squeue", "-h", "-n", f"sac-{name}", "-o", "%i"]).stdout.split()
    assert len(jobs) == 1
    assert sac("agent", "stop", name).returncode == 0


def test_sigkill_at_random_points_keeps_registry_valid(cluster, sac, stub):
    rng = random.Random(1234)
    name = unique("kill")
    path = sac.agent_yaml(name, spec(cluster, stub))
    code = "from sacgen.cli.sac import console; console()"
    for i in range(12):
        verb = ["agent", "start", str(path)] if i % 2 == 0 else ["agent", "stop", name]
        p = subprocess.Popen([sys.executable, "-c", code, *verb], env=sac.env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0.0, 0.6))
        p.kill()
        p.wait()
        state = sac.home / "state.json"
        if state.exists():
            json.loads(state.read_text())  # always valid JSON
    # Converges: status tells the truth whatever the registry cached.
    truth = cluster.run(["squeue", "-h", "-n", f"sac-{name}", "-o", "%i|%T"]).stdout.split()
    st = sac.status(name)
    if truth:
        assert st["job_id"] in [t.split("|")[0] for t in truth]
    else:
        assert st["state"] == "ABSENT"
    assert sac("agent", "stop", name).returncode == 0
    assert cluster.run(["squeue", "-h", "-t", "PD,R", "-n", f"sac-{name}"]).stdout.strip() == ""


def test_drained_node_shows_in_status(cluster, sac, stub):
    name = unique("drain")
    sac.agent_yaml(name, spec(cluster, stub))
    assert sac("agent", "start", name).returncode == 0
    node = running(cluster, sac, name)["node"]
    cluster.run(["scontrol", "update", f"nodename={node}", "state=drain", "reason=sac-test"], check=True)
    try:
        st = sac.status(name)
        assert "drain" in (st["node_state"] or ""), st
        assert "drain" in sac("agent", "status", name).stdout
    finally:
        cluster.run(["scontrol", "update", f"nodename={node}", "state=resume"], check=True)
    assert sac("agent", "stop", name).returncode == 0


def test_read_only_state_folder_clear_error(cluster, sac, stub, tmp_path):
    mnt = tmp_path / "ro-home"
    mnt.mkdir()
    (mnt / "state.json").write_text('{"version": 1, "agents": {}, "reservations": {}}\n')
    r = subprocess.run(["mount", "--bind", str(mnt), str(mnt)], capture_output=True)
    if r.returncode != 0:
        pytest.fail(f"cannot make a read-only mount here: {r.stderr}")
    try:
        subprocess.run(["mount", "-o", "remount,ro,bind", str(mnt)], check=True)
        name = unique("ro")
        path = sac.agent_yaml(name, spec(cluster, stub), where=tmp_path / "yamls")
        r = sac("agent", "start", path, env={"SAC_HOME": str(mnt)})
        assert r.returncode == 1
        assert "Read-only file system" in r.stderr and "Traceback" not in r.stderr
        assert "nothing was started" in r.stderr and len(r.stderr.splitlines()) == 1, r.stderr
        assert json.loads((mnt / "state.json").read_text())["agents"] == {}
        # Refused before anything ran: a job no sac command would know of.
        assert cluster.run(["squeue", "-h", "-n", f"sac-{name}"]).stdout.strip() == ""
        r = sac("reservations", "book", unique("ro"), "--host", cluster.host, "--no-wait",
                env={"SAC_HOME": str(mnt)})
        assert r.returncode == 1 and "nothing was booked" in r.stderr, r.stderr
    finally:
        subprocess.run(["umount", str(mnt)])
        cluster.run(["scancel", "-n", f"sac-{name}"])


def test_full_state_folder_clear_error(cluster, sac, stub, tmp_path):
    """The local state folder on a full file system (a 256 KiB tmpfs filled up):
    exit 1 with "No space left on device", state.json as it was, no temporary
    file left behind; once there is room again, `status` finds the agent."""
    mnt = tmp_path / "full-home"
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k,mode=0700", "tmpfs", str(mnt)],
                       capture_output=True)
    if r.returncode != 0:
        pytest.fail(f"cannot mount a tmpfs here: {r.stderr}")
    name = unique("full")
    try:
        before = '{"version": 1, "agents": {}, "reservations": {}}\n'
        (mnt / "state.json").write_text(before)
        (mnt / "state.lock").touch()
        with open(mnt / "filler", "wb", buffering=0) as f:  # fill it to the last byte
            with contextlib.suppress(OSError):
                while True:
                    f.write(b"x" * 512)
        path = sac.agent_yaml(name, spec(cluster, stub), where=tmp_path / "yamls")
        r = sac("agent", "start", path, env={"SAC_HOME": str(mnt)})
        assert r.returncode == 1, r.stderr
        assert "No space left on device" in r.stderr and "Traceback" not in r.stderr
        assert len(r.stderr.strip().splitlines()) == 1, r.stderr
        assert (mnt / "state.json").read_text() == before
        assert sorted(p.name for p in mnt.iterdir() if p.name != "cache") == ["filler", "state.json", "state.lock"]
        assert not [p for p in mnt.rglob("*") if ".tmp" in p.name], "a temporary file was left behind"
        (mnt / "filler").unlink()
        st = sac.json("agent", "status", path, env={"SAC_HOME": str(mnt)})
        assert st["state"] in ("PENDING", "RUNNING"), st
    finally:
        subprocess.run(["umount", str(mnt)])
        cluster.run(["scancel", "-n", f"sac-{name}"])


def test_no_connection_from_the_cluster_and_private_files(cluster, sac, stub):
    """Network and daemon commands booby-trapped on the job's PATH are never called,
    through a whole run with a resubmit; the agent's folder and scripts are private."""
    name = unique("trap")
    trapdir = cluster.home / "traps" / name
    trapdir.mkdir(parents=True)
    called = cluster.home / "traps" / f"{name}.called"
    for cmd in ("ssh", "scp", "curl", "wget", "nc", "autossh", "crontab", "systemctl", "nohup", "cloudflared"):
        (trapdir / cmd).write_text(f"#!/bin/sh\necho {cmd} \"$@\" >> {called}\nexit 1\n")
        (trapdir / cmd).chmod(0o755)
    hook = cluster.home / "hooks" / f"{name}.sh"
    hook.parent.mkdir(exist_ok=True)
    hook.write_text(f'export PATH="{trapdir}:$PATH"\n')
    subprocess.run(["chown", "-R", cluster.user, str(cluster.home / "traps"), str(hook.parent)])
    sp = spec(cluster, stub)
    sp["slurm"]["hooks"] = {"pre_agent": f"~/hooks/{name}.sh"}
    sac.agent_yaml(name, sp)
    assert sac("agent", "start", name).returncode == 0
    job = running(cluster, sac, name)["job_id"]
    cluster.scancel(job, signal="USR1", batch=True)
    cluster.wait_for(lambda: len(cluster.run(["squeue", "-h", "-n", f"sac-{name}"]).stdout.split("\n")) > 2,
                     15, "successor")
    assert sac("agent", "logs", name).returncode == 0
    assert sac("agent", "stop", name).returncode == 0
    assert not called.exists(), called.read_text()
    agent_dir = cluster.home / ".scitex/agent-container/agents" / name
    assert oct(agent_dir.stat().st_mode & 0o777) == "0o700"
    for f in ("job.sbatch", "session.sh"):
        assert (agent_dir / f).stat().st_mode & 0o077 == 0, f
    state = sac.home / "state.json"
    assert state.stat().st_mode & 0o077 == 0
    # Nothing of the agent is left running on the cluster.
    cluster.wait_for(lambda: cluster.run(["squeue", "-h", "-t", "PD,R", "-n", f"sac-{name}"]).stdout.strip() == "",
                     20, "the chain to end")
    left = subprocess.run(["pgrep", "-u", cluster.user, "-f", f"sac-{name}"], capture_output=True, text=True)
    cluster.wait_for(lambda: subprocess.run(["pgrep", "-u", cluster.user, "-f", f"sac-{name}"],
                                            capture_output=True).returncode == 1, 20,
                     f"no process of {name} left: {left.stdout}")
