"""The remote command that carries a program to the login node's bash."""

import os
import re
import subprocess
from pathlib import Path

import pytest

from sacgen.compile import bashlib
from sacgen.run import remote
from sacgen.run.remote import INLINE_MAX, Step, compose, parse, remote_command

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


def test_a_private_program_never_travels_in_the_command_line(tmp_path, monkeypatch):
    """Values that may be secret (spec.env in start.sh, a hold body in book.sh, a
    user's script) go on stdin: the remote command line is visible to `ps`."""
    from sacgen.run.remote import run_batch

    fake = tmp_path / "ssh"
    fake.write_text('#!/bin/bash\nprintf "%s" "${@: -1}" >"$0.cmd"\ncat >"$0.stdin"\n')
    fake.chmod(0o755)
    monkeypatch.setenv("SAC_SSH", str(fake))
    monkeypatch.setenv("SAC_SSH_CONTROL", "0")
    secret = "export TOKEN=sk-very-secret\n"
    for private, inline in ((True, False), (False, True)):
        run_batch("somehost", [Step(secret, (), "x", private=private)])
        command = (tmp_path / "ssh.cmd").read_text()
        stdin = (tmp_path / "ssh.stdin").read_text()
        assert command.startswith("echo ") == inline
        assert ("sk-very-secret" in stdin) == (not inline)
        if not inline:
            assert command == "bash -l -s"


def test_start_and_book_are_private_when_they_carry_values_and_run_always(monkeypatch, tmp_path):
    import inspect

    from sacgen.compile.specs import load_specs
    from sacgen.run import agents, reservations, steps

    monkeypatch.setenv("SAC_HOME", str(tmp_path))
    specs = [s for s in load_specs(["examples"]) if s.kind == "Agent" and not s.tenant]
    assert any(s.env for s in specs) and any(not s.env for s in specs)
    for spec, (_, _, step, _) in zip(specs, agents.start_plan(specs, False)):
        assert step.private == bool(spec.env), spec.name
        values = [v for _, v in spec.env]
        assert not values or all(v not in remote_command(step.script.encode(), step.private)[0] for v in values)
    assert "private=spec.hold_body is not None" in inspect.getsource(reservations.book)
    assert "private=True" in inspect.getsource(steps.run_script)


def test_sac_ssh_inline_sets_the_size_sent_in_the_command(monkeypatch):
    small = b"true\n"
    monkeypatch.setenv("SAC_SSH_INLINE", "0")
    assert remote_command(small) == ("bash -l -s", small)
    monkeypatch.setenv("SAC_SSH_INLINE", "5")
    assert remote_command(small)[1] is None and remote_command(small + b"\n")[1] is not None
    monkeypatch.setenv("SAC_SSH_INLINE", str(10 * INLINE_MAX))
    assert remote_command(b"#" * (INLINE_MAX + 1))[1] is not None


def test_a_status_batch_over_several_jobs_lists_their_panes_first_and_at_once(monkeypatch, tmp_path):
    from sacgen.compile.specs import load_specs
    from sacgen.run import agents, steps

    monkeypatch.setenv("SAC_HOME", str(tmp_path))
    specs = {s.name: s for s in load_specs(["examples"]) if s.kind == "Agent"}
    tenants = [n for n, s in specs.items() if s.tenant and s.reservation == "dev-pool"]
    solo = [n for n, s in specs.items() if not s.tenant]
    assert len(tenants) >= 2 and len(solo) >= 2

    def plan(names, hosts):
        items = [steps.Item(n, hosts[n], Step(f"echo {n}\n", (), n)) for n in names]
        return agents._prefetched(steps.batched(items, set(names), "SAC_SNAPSHOT", steps.Kind.SNAPSHOT_CLEANUP),
                                  specs)

    # Tenants of one reservation: one job, nothing to do at once.
    plan_items = plan(tenants, dict.fromkeys(tenants, "h1"))
    assert [name for name, *_ in plan_items] == [*tenants, "snapshot-cleanup.sh"]
    # Two jobs of runtime slurm and a reservation on one host, one agent alone on another.
    names = [*solo, *tenants]
    hosts = {**dict.fromkeys(names, "h1"), solo[-1]: "h2"}
    plan_items = plan(names, hosts)
    first = plan_items[0]
    assert first[0] == "snapshot-prefetch.sh" and first[1] == "h1"
    assert first[2].args == (*(f"slurm:{n}" for n in solo[:-1]), "tenant:dev-pool")
    assert [k for k, _ in first[2].env] == ["SAC_SNAPSHOT"]
    assert all(not step.env for name, _, step, _ in plan_items[1:])
    assert [name for name, host, *_ in plan_items if host == "h2"] == [solo[-1]]
    assert "snapshot-prefetch.sh" in first[2].script.splitlines()[1]


def test_tenant_scripts_go_by_the_reservation_job_sac_last_saw_running(monkeypatch, tmp_path):
    """status.sh and start.sh of a tenant get JOB NODE of its reservation as
    recorded (they step straight into it and fall back to squeue); sac list's
    prefetch gets tenant:POOL|JOB|NODE, even for one reservation alone; and a
    status that finds the reservation elsewhere records where."""
    import json

    from sacgen.compile.specs import load_specs
    from sacgen.run import agents, steps
    from sacgen.run.registry import Registry

    monkeypatch.setenv("SAC_HOME", str(tmp_path))
    specs = {s.name: s for s in load_specs(["examples"]) if s.kind == "Agent"}
    tenants = [n for n, s in specs.items() if s.tenant and s.reservation == "dev-pool"]
    solo = next(n for n, s in specs.items() if not s.tenant)
    pool = {"host": "h1", "job_id": "301", "node": "n1", "state": "RUNNING"}
    reg = {"version": 1, "reservations": {"dev-pool": pool},
           "agents": {n: {"runtime": "slurm-tenant", "host": "h1", "reservation": "dev-pool"} for n in tenants}}
    assert agents.job_hint(specs[tenants[0]], reg) == ("301", "n1")
    assert agents.job_hint(specs[solo], reg) == ()
    for other in ({"state": "PENDING"}, {"node": None}, {"job_id": ""}):
        assert agents.job_hint(specs[tenants[0]], {"reservations": {"dev-pool": dict(pool, **other)}}) == ()
    (tmp_path / "state.json").write_text(json.dumps(reg))
    assert [item.step.args for item in agents.start_plan([specs[tenants[0]]], False)] == [("301", "n1")]

    seen = []

    def fake_run_grouped(items, progress=None):
        seen.extend(items)
        out = []
        for name, host, _step, _ in items:
            if name in tenants:
                out.append(steps.Outcome(name, host, True, {"state": "RUNNING", "job_id": "302", "node": "n2",
                                                           "reservation": "dev-pool", "session_alive": True}))
        return out

    monkeypatch.setattr(steps, "run_grouped", fake_run_grouped)
    outcomes = agents.status(tenants)
    assert [o.result["job_id"] for o in outcomes] == ["302"] * len(tenants)
    first = seen[0]
    assert first[0] == "snapshot-prefetch.sh" and first[2].args == ("tenant:dev-pool|301|n1",)
    assert all(step.args == ("301", "n1") for name, _, step, _ in seen if name in tenants)
    assert Registry().read()["reservations"]["dev-pool"] == dict(pool, job_id="302", node="n2")
    seen.clear()
    agents.status(tenants[:1])
    assert [(name, step.args) for name, _, step, _ in seen] == [(tenants[0], ("302", "n2"))]
    seen.clear()
    agents.logs(tenants[0], 5)
    assert [(name, step.args) for name, _, step, _ in seen] == [(tenants[0], ("5", "302", "n2"))]


def test_status_records_a_reservation_as_found_only_on_its_host_and_unless_rebooked(monkeypatch, tmp_path):
    import json

    from sacgen.compile.specs import load_specs
    from sacgen.run import agents, steps
    from sacgen.run.registry import Registry

    monkeypatch.setenv("SAC_HOME", str(tmp_path))
    (name,) = [s.name for s in load_specs(["examples"]) if s.kind == "Agent" and s.reservation == "dev-pool"][:1]
    pool = {"host": "h1", "job_id": "301", "node": "n1", "state": "RUNNING"}

    def write(rec, agent_host="h1"):
        (tmp_path / "state.json").write_text(json.dumps({"version": 1, "reservations": {"dev-pool": rec}, "agents": {
            name: {"runtime": "slurm-tenant", "host": agent_host, "reservation": "dev-pool"}}}))

    def answer(result, during=None):
        def fake(items, progress=None):
            if during:
                during()
            return [steps.Outcome(n, h, True, dict(result, reservation="dev-pool")) for n, h, *_ in items if n == name]
        monkeypatch.setattr(steps, "run_grouped", fake)

    # Ended: recorded, so that no later call goes by job 301.
    write(dict(pool))
    answer({"state": "ABSENT", "job_id": None, "node": None})
    agents.status([name])
    rec = Registry().read()["reservations"]["dev-pool"]
    assert (rec["job_id"], rec["state"]) == (None, "ABSENT")
    assert agents.job_hint(agents.spec_from_record(name, {"runtime": "slurm-tenant", "reservation": "dev-pool"}),
                        Registry().read()) == ()
    # An agent recorded on another host than the pool: its answer is not the pool's.
    write(dict(pool), agent_host="h2")
    answer({"state": "RUNNING", "job_id": "999", "node": "n9"})
    agents.status([name])
    assert Registry().read()["reservations"]["dev-pool"]["job_id"] == "301"
    # Re-booked while the status ran: the new booking stays.
    write(dict(pool))
    answer({"state": "RUNNING", "job_id": "302", "node": "n2"},
           during=lambda: write(dict(pool, job_id="400", node="n4")))
    agents.status([name])
    assert Registry().read()["reservations"]["dev-pool"]["job_id"] == "400"


@pytest.fixture
def short_tmp():
    """A folder with a short path (pytest's tmp_path is too long to hold sockets)."""
    import shutil
    import tempfile

    folder = tempfile.mkdtemp(prefix="sc", dir="/tmp")
    yield Path(folder)
    shutil.rmtree(folder)


def _listener_path(folder: str) -> str:
    # What OpenSSH binds for a new master: ControlPath (folder/%C, 40 hex digits)
    # plus a dot and 16 random characters.
    return f"{folder}/{'c' * 40}.{'r' * 16}"


def test_connection_masters_live_in_the_runtime_folder_when_its_path_is_short(monkeypatch, short_tmp):
    from sacgen.run.remote import _control_options, control_folder

    monkeypatch.setenv("XDG_RUNTIME_DIR", str(short_tmp))
    monkeypatch.delenv("SAC_SSH_CONTROL", raising=False)
    folder = control_folder()
    assert folder == f"{short_tmp}/sac-ssh-{os.getuid()}"
    assert os.stat(folder).st_mode & 0o777 == 0o700
    assert f"ControlPath={folder}/%C" in _control_options()


def test_a_folder_too_long_for_a_socket_path_is_passed_over(monkeypatch, tmp_path, short_tmp):
    """macOS's $TMPDIR (/var/folders/xx/<28 characters>/T) is such a folder: with
    it every ssh call failed (exit 255, "too long for Unix domain socket")."""
    from sacgen.run.remote import control_folder

    long_root = tmp_path / ("x" * 60)
    long_root.mkdir()
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(long_root))
    monkeypatch.setenv("TMPDIR", str(short_tmp))
    folder = control_folder()
    assert folder == f"{short_tmp}/sac-ssh-{os.getuid()}"
    # A Unix socket path holds at most 103 bytes on macOS and the BSDs.
    assert len(_listener_path(folder).encode()) <= 103
    assert not (long_root / f"sac-ssh-{os.getuid()}").exists()


def test_a_folder_others_can_enter_or_a_symlink_is_not_used(monkeypatch, tmp_path):
    from sacgen.run.remote import control_folder

    open_root, link_root, ours = tmp_path / "o", tmp_path / "l", tmp_path / "ours"
    for d in (open_root, link_root, ours):
        d.mkdir()
    (open_root / f"sac-ssh-{os.getuid()}").mkdir(mode=0o755)
    os.chmod(open_root / f"sac-ssh-{os.getuid()}", 0o755)
    (link_root / f"sac-ssh-{os.getuid()}").symlink_to(ours)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(open_root))
    monkeypatch.setenv("TMPDIR", str(link_root))
    assert control_folder() == f"/tmp/sac-ssh-{os.getuid()}"


def test_without_a_usable_folder_connections_are_not_reused(monkeypatch, tmp_path):
    import sacgen.run.remote as remote

    monkeypatch.delenv("SAC_SSH_CONTROL", raising=False)
    monkeypatch.setattr(remote, "control_folder", lambda: None)
    assert remote._control_options() == []
    assert "ControlMaster=auto" not in remote.ssh_argv("h", "true")
    monkeypatch.setenv("SAC_SSH_CONTROL", "0")
    monkeypatch.setattr(remote, "control_folder", lambda: str(tmp_path))
    assert remote._control_options() == []


def test_ssh_leaves_out_what_a_config_for_interactive_logins_adds(monkeypatch):
    import sacgen.run.remote as remote

    monkeypatch.setenv("SAC_SSH", "ssh -F my_config")
    monkeypatch.setenv("SAC_SSH_CONTROL", "0")
    argv = remote.ssh_argv("spartan", "true")
    assert argv[:3] == ["ssh", "-F", "my_config"] and argv[-2:] == ["spartan", "true"]
    options = " ".join(argv)
    for option in ("BatchMode=yes", "RemoteCommand=none", "ClearAllForwardings=yes", " -T ", " -x ", " -a ",
                   "ConnectTimeout=10", "ServerAliveInterval=10", "ServerAliveCountMax=3"):
        assert option in options
    monkeypatch.setenv("SAC_SSH_TIMEOUT", "3")
    assert "ServerAliveInterval=3" in remote.ssh_argv("spartan", "true")
    attach = " ".join(remote.ssh_argv("spartan", "true", tty=True))
    assert " -tt " in attach and "RemoteCommand=none" in attach and " -x " not in attach and " -a " not in attach


def test_helpers_shared_by_a_batch_travel_once_and_every_step_sees_the_functions_it_defined():
    """compose() defines the helper functions several steps share once, ahead of
    them: each step must still see every function it defined, text for text (and
    may see more sac_* helpers, which it never calls)."""
    from sacgen.compile.model import AgentSpec
    from sacgen.compile.render import BATCH_HELPERS, render_agent, render_reservation
    from sacgen.compile.specs import load_specs

    scripts = []
    for spec in load_specs(["examples"]):
        arts = render_agent(spec) if isinstance(spec, AgentSpec) else render_reservation(spec)
        scripts += [a.text for a in arts if a.name.endswith(".sh")]
    scripts += [render() for render in BATCH_HELPERS.values()]
    # Each step: its script up to the end of its helpers (its main, then its
    # helpers; not the files it carries, nor the call of main), then the text of
    # the functions it defines alone.
    assert all(t.endswith('main "$@"\n') for t in scripts)
    heads = [t[:-len('main "$@"\n')].split("\n# :artifact ")[0] for t in scripts if bashlib.SECTION in t]
    assert len(heads) > 10
    steps, alone = [], []
    for head in heads:
        names = subprocess.run(["bash", "-c", head + "declare -F"], capture_output=True, text=True).stdout.split()
        probe = f"declare -f {' '.join(n for n in names if n not in ('-f', 'declare'))} | sha256sum\n"
        alone.append(subprocess.run(["bash", "-c", head + probe], capture_output=True, text=True).stdout.split()[0])
        steps.append(Step(head + probe, (), f"s{len(steps)}"))
    program = compose(steps)
    assert len(program) < sum(len(s.script) for s in steps) / 2
    lib = bashlib.library()
    for name in lib.files:  # each helper once; the per-user state (globals.sh) in each step
        count = program.count(f"\n{bashlib.BLOCK}{name}\n")
        assert count <= 1 if lib.functions_only[name] else count == len(steps), (name, count)
    out = subprocess.run(["bash", "-s"], input=program, capture_output=True, text=True).stdout
    sums = [ln.split()[0] for ln in out.splitlines() if ln.endswith(" -")]
    assert sums == alone


@pytest.mark.parametrize("shell", ["sh", "bash"])
def test_the_interactive_command_is_one_line_that_a_login_shell_hands_to_bash_as_it_is(shell, tmp_path):
    """attach's command: no newline (csh cannot hold one inside quotes) and
    nothing but base64 inside its quotes; the program and its words arrive whole."""
    program = "set -- 'a b' \"it's\" '$(id)'\nprintf '[%s]' \"$@\"\necho\necho \"two\nlines\" `echo ok`\n"
    command = remote.interactive_command(program)
    assert "\n" not in command
    inner = command.split("'")[1]
    assert re.fullmatch(r'eval "\$\(echo [A-Za-z0-9+/=]+ \| base64 -d\)"', inner), inner
    out = subprocess.run([shell, "-c", command], capture_output=True, text=True,
                         env={"PATH": os.environ["PATH"], "HOME": str(tmp_path)})
    assert out.returncode == 0, out.stderr
    assert out.stdout == "[a b][it's][$(id)]\ntwo\nlines ok\n"
