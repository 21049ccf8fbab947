"""runtime: slurm-tenant and reservations end to end on the real cluster
(proctrack/cgroup), through the sshd login node."""

from __future__ import annotations

import json
import time

import pytest
import yaml

from .sacutil import HOSTILE_FLAGS, Sac, attach_in_a_pty, install_stub_agent, pane_has, record_env, records, unique


@pytest.fixture
def sac(cluster, sac_env, tmp_path):
    s = Sac(cluster, sac_env, tmp_path)
    pools: list[str] = []
    s.pools = pools
    yield s
    s.cleanup()
    if pools:
        cluster.run(["scancel", "-n", ",".join(f"sac-res-{p}" for p in pools)])


@pytest.fixture(scope="module")
def stub(cluster):
    return install_stub_agent(cluster)


def book(cluster, sac, *extra, pool=None, prog="scitex-hpc"):
    pool = pool or unique("pool")
    sac.pools.append(pool)
    before = sac.ssh_calls()
    r = sac("reservations", "book", pool, "--host", cluster.host, "--cpus", "2", "--time", "30", *extra, prog=prog)
    assert r.returncode == 0, r.stderr
    assert sac.ssh_calls() - before == 1, "book is one round trip"
    return pool, r


def tenant(cluster, sac, stub, name, pool, **extra):
    spec = {"runtime": "slurm-tenant", "model": "sonnet", "workdir": f"~/tenants/{name}",
            "env": record_env(cluster, name),
            "claude": {"command": stub, "flags": ["--dangerously-skip-permissions"]},
            "slurm": {"reservation": pool}}
    spec.update(extra)
    return sac.agent_yaml(name, spec)


def alive_sessions(sac, pool):
    return set(sac.json("reservations", "get", pool)["sessions"])


def test_book_start_all_operate_resubmit_release(cluster, sac, stub):
    # A tmux server name of its own: two reservations of one user on one node
    # must not share one (see docs/design.md).
    server = unique("srv")
    pool, r = book(cluster, sac, "--tmux-server", server, "--persistent", "--resubmit-before", "60")
    assert "RUNNING" in r.stdout
    got = sac.json("reservations", "get", pool)
    assert got["tmux_server"] == server and got["extras"] == {"tmux_server": server}
    assert got["persistent"] is True and got["state"] == "RUNNING"
    job1, node = got["job_id"], got["node"]

    names = [unique("ten") for _ in range(3)]
    for i, n in enumerate(names):
        extra = {"claude": {"command": stub, "flags": HOSTILE_FLAGS}} if i == 0 else {}
        tenant(cluster, sac, stub, n, pool, **extra)
    before = sac.ssh_calls()
    r = sac("agent", "start", "--all")
    assert r.returncode == 0, r.stdout + r.stderr
    assert sac.ssh_calls() - before == 1, "start --all of three tenants is ONE ssh connection"
    assert "started 3, already running 0, failed 0" in r.stdout
    assert cluster.run(["squeue", "-h", "-o", "%i", "-u", cluster.user]).stdout.split().count(job1) == 1
    # No sbatch: the only job of the pool is still the reservation's.
    assert cluster.run(["squeue", "-h", "-n", f"sac-res-{pool}", "-o", "%i"]).stdout.split() == [job1]
    # They outlive the srun step that created them (proctrack/cgroup).
    time.sleep(2)
    assert alive_sessions(sac, pool) == set(names)
    recs = {n: cluster.wait_for(lambda n=n: records(cluster, n), 10, f"{n} record")[0] for n in names}
    assert recs[names[0]]["argv"] == ["--model", "sonnet", *HOSTILE_FLAGS]
    assert recs[names[1]]["argv"] == ["--model", "sonnet", "--dangerously-skip-permissions"]
    assert recs[names[1]]["cwd"] == f"{cluster.home}/tenants/{names[1]}"
    assert recs[names[1]]["env"]["SLURM_JOB_ID"] == job1

    # Status, logs, list.
    st = sac.status(names[1])
    assert (st["runtime"], st["state"], st["session_alive"], st["reservation"], st["job_id"], st["node"]) == \
        ("slurm-tenant", "RUNNING", True, pool, job1, node)
    assert cluster.wait_for(lambda: pane_has(sac, names[1], "stub agent ready"), 10, "tenant banner")
    before = sac.ssh_calls()
    rows = sac.json("list")
    assert sac.ssh_calls() - before == 1
    assert {r["name"] for r in rows if r["session_alive"]} == set(names)

    # Starting again: already running, nothing duplicated.
    r = sac("agent", "start", names[1])
    assert r.returncode == 0 and "already running" in r.stdout

    # Stop one while the others run.
    r = sac("agent", "stop", names[2])
    assert r.returncode == 0 and "session killed" in r.stdout
    assert alive_sessions(sac, pool) == set(names[:2])
    st = sac.status(names[2])  # its YAML is still there to be found
    assert (st["state"], st["session_alive"], st["pane_command"]) == ("RUNNING", False, None), st
    r = sac("agent", "logs", names[2])  # the last screen the stop kept
    head = f"[sac] agent {names[2]}: its last screen before sac agent stop:"
    assert r.returncode == 0 and head in r.stdout and "stub agent ready: --model" in r.stdout.split(head)[-1]

    # Walltime signal twice -> exactly one successor; the reservation keeps serving.
    cluster.scancel(job1, signal="USR1", batch=True)
    cluster.scancel(job1, signal="USR1", batch=True)

    def chain():
        return cluster.run(["squeue", "-h", "-n", f"sac-res-{pool}", "-o", "%i"]).stdout.split()
    cluster.wait_for(lambda: len(chain()) == 2, 10, "the reservation's successor")
    time.sleep(2)
    assert len(chain()) == 2
    successor = next(j for j in chain() if j != job1)
    assert alive_sessions(sac, pool) == set(names[:2]), "the job must keep running after the trap"
    cluster.scancel(job1)  # as walltime would end it
    cluster.wait_job_state(successor, "RUNNING", 30)
    # The successor relaunches the tenants that were running -- not the stopped one.
    cluster.wait_for(lambda: alive_sessions(sac, pool) == set(names[:2]), 20, "tenants relaunched")
    r = sac("reservations", "refresh", pool, prog="scitex-hpc")
    assert r.returncode == 0 and f"job {successor} RUNNING" in r.stdout.replace(f"{job1} -> ", "")
    assert sac.json("reservations", "get", pool)["job_id"] == successor
    reg = json.loads((sac.home / "state.json").read_text())
    assert reg["reservations"][pool]["job_id"] == successor
    assert sac.status(names[0])["job_id"] == successor
    # Relaunched once the tenant's earlier process is gone (its job ended: at once).
    cluster.wait_for(lambda: len(records(cluster, names[0])) == 2, 40, "the tenant relaunched")

    # stop --all: every tenant, one connection; the reservation lives on.
    before = sac.ssh_calls()
    r = sac("agent", "stop", "--all")
    assert r.returncode == 0 and sac.ssh_calls() - before == 1
    assert alive_sessions(sac, pool) == set()
    assert sac.json("reservations", "get", pool)["state"] == "RUNNING"

    r = sac("reservations", "release", pool, prog="scitex-hpc")
    assert r.returncode == 0 and successor in r.stdout
    cluster.wait_job_gone(successor)
    assert chain() == []
    assert sac.json("reservations", "list") == []


def test_attach_to_a_tenant_in_a_real_pty_from_a_terminal_the_cluster_does_not_know(cluster, sac, stub, tmp_path):
    pool, _ = book(cluster, sac, "--tmux-server", unique("srv"))
    name = unique("tat")
    tenant(cluster, sac, stub, name, pool)
    assert sac("agent", "start", name).returncode == 0
    cluster.wait_for(lambda: pane_has(sac, name, "stub agent ready"), 20, "the tenant's agent")
    screen = attach_in_a_pty(cluster, sac, name, tmp_path, "xterm-kitty-unknown-here")
    assert "terminal type xterm-kitty-unknown-here is unknown on" in screen, screen
    assert sac.status(name)["session_alive"] is True


def test_troubleshooting_messages(cluster, sac, stub, tmp_path):
    # Missing reservation field.
    bad = tmp_path / "lonely.yaml"
    bad.write_text(yaml.safe_dump({"apiVersion": "scitex-agent-container/v3", "kind": "Agent",
                                   "spec": {"runtime": "slurm-tenant", "model": "sonnet"}}))
    r = sac("agent", "start", bad)
    assert r.returncode == 2 and "runtime: slurm-tenant requires spec.slurm.reservation" in r.stderr

    # Unknown reservation.
    name = unique("orphan")
    r = sac("agent", "start", tenant(cluster, sac, stub, name, "never-booked"))
    assert r.returncode == 1 and "reservation 'never-booked' is not known here" in r.stderr

    # Booked without a tmux server.
    pool, r = book(cluster, sac, prog="sac")
    assert f"sac: {pool}: booking without --tmux-server: tenants cannot run in it\nbooking {pool}" in r.stderr
    assert sac.json("reservations", "get", pool)["extras"] == {"tmux_server": None}
    name = unique("notmux")
    r = sac("agent", "start", tenant(cluster, sac, stub, name, pool))
    assert r.returncode == 1
    assert f"reservation '{pool}' was not booked with tmux_server set — re-book with --tmux-server sac" in r.stderr

    # A second booking of a live name.
    r = sac("reservations", "book", pool, "--host", cluster.host)
    assert r.returncode == 1 and "already live" in r.stderr
    assert sac("reservations", "release", pool).returncode == 0

    # A reservation whose job has ended.
    pool2, _ = book(cluster, sac, "--tmux-server", "sac2")
    job = sac.json("reservations", "get", pool2)["job_id"]
    cluster.scancel(job)
    cluster.wait_job_gone(job)
    name = unique("late")
    r = sac("agent", "start", tenant(cluster, sac, stub, name, pool2))
    assert r.returncode == 1
    assert f"reservation '{pool2}' has no live job" in r.stderr and "refresh" in r.stderr

    # Bad booking flags are usage errors naming the flag.
    r = sac("reservations", "book", "x-pool", "--host", cluster.host, "--cpus", "0")
    assert r.returncode == 2 and "--cpus: must be at least 1" in r.stderr


def test_tenant_hook_is_sourced_in_its_session(cluster, sac, stub):
    pool, _ = book(cluster, sac, "--tmux-server", "hk")
    hook = cluster.home / "hooks" / f"{pool}.sh"
    hook.parent.mkdir(exist_ok=True)
    hook.write_text("export TENANT_HOOK=sourced\n")
    name = unique("hooked")
    path = tenant(cluster, sac, stub, name, pool,
                  slurm={"reservation": pool, "hooks": {"pre_agent": f"~/hooks/{pool}.sh"}})
    assert sac("agent", "start", path).returncode == 0
    (rec,) = cluster.wait_for(lambda: records(cluster, name), 10, "hooked tenant record")
    assert rec["env"]["TENANT_HOOK"] == "sourced"

    # A set-up that fails is reported with its reason: the start waits for the
    # session's report (here a slow hook), not a fixed delay.
    hook.write_text("sleep 1\nreturn 7\n")
    bad = unique("badhook")
    r = sac("agent", "start", tenant(cluster, sac, stub, bad, pool,
                                     slurm={"reservation": pool, "hooks": {"pre_agent": f"~/hooks/{pool}.sh"}}))
    assert r.returncode == 1
    assert f"tenant session sac-{bad} could not start: pre_agent hook {hook} failed with status 7" in r.stderr
    missing = unique("noprog")
    r = sac("agent", "start", tenant(cluster, sac, stub, missing, pool, claude={"command": "~/bin/no-such-agent"}))
    assert r.returncode == 1
    assert f"could not start: agent program not found: {cluster.home}/bin/no-such-agent" in r.stderr
    assert alive_sessions(sac, pool) == {name}
    assert sac("reservations", "release", pool).returncode == 0


def test_book_from_a_reservation_file(cluster, sac, stub, tmp_path):
    """`book FILE`: the Reservation YAML says the host, resources, tmux server
    and hold body; what its hold body exports reaches a tenant."""
    pool = unique("filepool")
    sac.pools.append(pool)
    path = tmp_path / pool / f"{pool}.yaml"
    path.parent.mkdir()
    path.write_text(yaml.safe_dump({"apiVersion": "scitex-agent-container/v3", "kind": "Reservation", "spec": {
        "host": cluster.host, "cpus": 2, "time": "30", "tmux_server": unique("fs"),
        "hold_body": "export POOL_FROM_FILE='from the file'\n"}}))
    r = sac("reservations", "book", path, "--cpus", "4")
    assert r.returncode == 2 and "leave out --cpus" in r.stderr and sac.ssh_calls() == 0
    before = sac.ssh_calls()
    r = sac("reservations", "book", path)
    assert r.returncode == 0 and f"{pool}: booked" in r.stdout and "RUNNING" in r.stdout, r.stderr
    assert sac.ssh_calls() - before == 1
    got = sac.json("reservations", "get", pool)
    assert got["state"] == "RUNNING" and got["tmux_server"] == yaml.safe_load(path.read_text())["spec"]["tmux_server"]
    name = unique("fromfile")
    assert sac("agent", "start", tenant(cluster, sac, stub, name, pool)).returncode == 0
    (rec,) = cluster.wait_for(lambda: records(cluster, name), 10, "tenant record")
    assert rec["env"]["POOL_FROM_FILE"] == "from the file"
    assert sac("reservations", "release", pool).returncode == 0


def test_a_book_whose_connection_breaks_while_it_waits_is_recorded_and_released(cluster, sac, tmp_path):
    """The laptop's connection ends while book waits for its job (a slow hold
    body): the job was submitted; the reservation is recorded (UNKNOWN), get
    finds it running, release cancels it."""
    pool = unique("lostpool")
    sac.pools.append(pool)
    breaking = tmp_path / "ssh-breaks"
    # The real ssh for 3 s, then the connection is gone, as ssh reports it. (Its
    # stdin given explicitly: a background command's would be /dev/null.)
    breaking.write_text(f"#!/bin/bash\n{sac.env['SAC_SSH']} \"$@\" <&0 &\npid=$!\nsleep 3\nkill $pid\nwait $pid\n"
                        "echo 'Connection to login closed by remote host.' >&2\nexit 255\n")
    breaking.chmod(0o755)
    hold = tmp_path / "slow-hold.sh"
    hold.write_text("sleep 8\n")
    r = sac("reservations", "book", pool, "--host", cluster.host, "--cpus", "1", "--time", "30",
            "--tmux-server", unique("ls"), "--hold-body", hold, env={"SAC_SSH": str(breaking), "SAC_SSH_CONTROL": "0"})
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert f"the connection to {cluster.host} broke while sac's script ran there" in r.stderr
    assert f"sac reservations release {pool} cancels it" in r.stderr
    rec = json.loads((sac.home / "state.json").read_text())["reservations"][pool]
    assert rec["state"] == "UNKNOWN"
    got = cluster.wait_for(lambda: (lambda g: g if g.get("state") == "RUNNING" else None)(
        sac.json("reservations", "get", pool)), 30, "the booked job running")
    assert got["job_id"]
    assert sac("reservations", "release", pool).returncode == 0
    cluster.wait_for(lambda: "RUNNING" not in cluster.run(["squeue", "-h", "-n", f"sac-res-{pool}", "-o", "%T"]).stdout,
                     30, "the released job gone")


def test_migrate_slurm_agent_into_reservation(cluster, sac, stub, tmp_path):
    pool, _ = book(cluster, sac, "--tmux-server", unique("mig"), "--cpus", "4", "--mem", "2G", pool=unique("mig"))
    path = tmp_path / "mover" / "mover.yaml"
    path.parent.mkdir()
    path.write_text(
        "# my agent\napiVersion: scitex-agent-container/v3\nkind: Agent\nspec:\n  runtime: slurm  # was slurm\n"
        "  model: opus\n  workdir: ~/mover\n  slurm:\n    host: sac-login\n    cpus_per_task: 2\n    mem: 1G\n"
        "    hooks:\n      pre_agent: ~/hooks/x.sh  # keep me\n  claude:\n    flags: [--x]\n")
    too_big = tmp_path / "big" / "big.yaml"
    too_big.parent.mkdir()
    too_big.write_text(path.read_text().replace("cpus_per_task: 2", "cpus_per_task: 16"))
    r = sac("agent", "migrate", too_big, "--reservation", pool)
    assert r.returncode == 1 and "needs 16 CPUs" in r.stderr
    r = sac("agent", "migrate", path, "--reservation", pool)
    assert r.returncode == 0, r.stderr
    text = path.read_text()
    assert "runtime: slurm-tenant  # was slurm" in text and "# my agent" in text
    assert f"reservation: {pool}" in text and "pre_agent: ~/hooks/x.sh  # keep me" in text
    assert "cpus_per_task" not in text and "host:" not in text and "flags: [--x]" in text
    assert sac("reservations", "release", pool).returncode == 0


def test_a_suspended_reservation_is_reported_not_waited_for(cluster, sac, stub):
    """A tenant's status and start step straight into the job sac last saw
    running; into a suspended job srun would wait until it resumes. They give
    up (srun --immediate) and report the job as squeue sees it."""
    pool, _ = book(cluster, sac, "--tmux-server", unique("su"))
    name = unique("susp")
    path = tenant(cluster, sac, stub, name, pool)
    assert sac("agent", "start", path).returncode == 0
    job = sac.json("reservations", "get", pool)["job_id"]
    st = sac.json("agent", "status", name)
    assert (st["state"], st["job_id"], st["session_alive"]) == ("RUNNING", job, True)
    cluster.run(["scontrol", "suspend", job], check=True)
    try:
        st = sac.json("agent", "status", name, timeout=60)
        assert (st["state"], st["job_id"], st["session_alive"]) == ("SUSPENDED", job, None)
        assert "cannot be seen until the job resumes" in st["error"]
        r = sac("agent", "start", path, timeout=60)
        assert r.returncode == 1 and f"is suspended (job {job} SUSPENDED); try again when it resumes" in r.stderr
        r = sac("agent", "logs", name, timeout=60)
        assert r.returncode == 1 and "cannot be read until the job resumes" in r.stderr, r.stderr
        r = sac("agent", "stop", name, timeout=60)
        assert r.returncode == 1 and "cannot be stopped until it resumes" in r.stderr, r.stderr
        r = sac("list", "--json", timeout=60)
        assert r.returncode == 0 and [a["state"] for a in json.loads(r.stdout) if a["name"] == name] == ["SUSPENDED"]
    finally:
        cluster.run(["scontrol", "resume", job], check=True)
    st = sac.json("agent", "status", name)
    assert (st["state"], st["session_alive"]) == ("RUNNING", True)
    assert sac("reservations", "release", pool).returncode == 0
    # Its tenants leave `sac list`; their names still find them.
    assert name not in [a["name"] for a in sac.json("list")]
    cluster.wait_for(lambda: sac.json("agent", "status", name)["state"] == "ABSENT", 20, "the tenant gone with its job")
