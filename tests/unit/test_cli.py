"""`sac` builds only the command group it runs; what it parses and says is the same
as with the whole parser."""

import contextlib
import io
import json
import os

import pytest

from sacgen.cli.parsers import sac_parser as parser

LINES = [
    ["--help"], ["--version"], [], ["bogus"], ["agent"], ["agent", "--help"], ["agent", "bogus"],
    ["agent", "status", "--help"], ["agent", "status"], ["agent", "status", "x", "--json"],
    ["agent", "logs", "x", "-n", "5"], ["agent", "start", "--all", "--dry-run"], ["agent", "stop", "--all"],
    ["list"], ["list", "--json"], ["list", "--help"], ["list", "extra"],
    ["run", "s.sh", "--host", "h", "a", "b"], ["run", "--help"],
    ["reservations", "get", "p", "--json"], ["reservations", "book", "p"], ["reservations", "--help"],
    ["--", "list"], ["-h", "agent"],
    ["connect", "h"], ["connect", "h", "--persist", "2h", "--check"], ["connect", "h", "--check", "--close"],
    ["connect", "--help"],
]


def _outcome(p, argv):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            result = vars(p.parse_args(argv))
            code = 0
        except SystemExit as e:
            result, code = None, e.code
    return result, code, out.getvalue(), err.getvalue()


@pytest.mark.parametrize("argv", LINES, ids=" ".join)
def test_the_parser_for_a_command_line_parses_and_speaks_as_the_whole_one(argv):
    assert _outcome(parser(argv), argv) == _outcome(parser(), argv)


# ----------------------------------------------------------------------------- leaving

def test_the_commands_leave_with_their_status_and_every_byte_of_their_output(tmp_path):
    """The console entry points end the process without the interpreter's
    teardown (cli.sac.leave): what they wrote to a pipe still arrives whole, and
    their exit status is the command's."""
    import subprocess
    import sys

    from .conftest import ROOT

    # Buffered output, as in a terminal-less run (PYTHONUNBUFFERED would hide a
    # missing flush), all of it still in Python's buffer when the command returns.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    env.update(SAC_HOME=str(tmp_path), SCITEX_AGENT_CONTAINER_YAML_DIRS=str(tmp_path))

    def cli(entry, *args):
        return subprocess.run([sys.executable, "-c", f"from sacgen.{entry} import console; console()", *args],
                              capture_output=True, text=True, env=env, timeout=60, cwd=tmp_path)

    big = cli("cli.sacgen", "schema", "--kind", "Agent")
    assert big.returncode == 0 and big.stdout == (ROOT / "schemas" / "agent.v3.schema.json").read_text("utf-8")
    assert (r := cli("cli.sac", "list", "--json")).returncode == 0 and r.stdout == "[]\n"
    r = cli("cli.sac", "agent", "status", "no-such-agent")
    assert r.returncode == 2 and r.stderr.startswith("sac: unknown agent 'no-such-agent'") and r.stdout == ""


def test_a_status_from_the_cache_loads_no_module_it_does_not_need(tmp_path):
    """`sac agent status` of a known agent whose scripts are cached loads neither
    Jinja nor YAML nor jsonschema (tens of ms), nor tempfile, shutil or typing
    (what they would cost every call is measured by `make bench`)."""
    import json
    import subprocess
    import sys

    (tmp_path / "state.json").write_text(json.dumps({"version": 1, "reservations": {}, "agents": {
        "t1": {"runtime": "slurm-tenant", "host": "localhost", "reservation": "p", "job_id": None}}}))
    code = ("import sys; from sacgen.cli.sac import main; main(['agent', 'status', 't1', '--json']); "
            "print(sorted(m for m in ('jinja2', 'yaml', 'jsonschema', 'tempfile', 'shutil', 'typing') "
            "if m in sys.modules), file=sys.stderr)")
    env = dict(os.environ, SAC_HOME=str(tmp_path), SAC_REMOTE_HOME=str(tmp_path / "remote"),
               PATH="/usr/bin:/bin")
    runs = [subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)
            for _ in range(2)]
    assert json.loads(runs[1].stdout)["state"] == "UNKNOWN"  # no reservation on this "host"
    assert "jinja2" in runs[0].stderr.splitlines()[-1]  # the first call rendered the script
    assert runs[1].stderr.splitlines()[-1] == "[]"


@pytest.mark.parametrize("argv, env, message", [
    (["connect", "spartan", "--persist", "8 hours"], {}, "--persist: '8 hours' is not a duration"),
    (["connect", "spartan", "--persist", "0"], {}, "--persist: '0' is not a duration of at least a second"),
    (["connect", "spartan", "--persist", "0h"], {}, "--persist: '0h' is not a duration"),
    (["connect", "spartan"], {"SAC_SSH_CONTROL": "0"}, "connection reuse is off (SAC_SSH_CONTROL=0)"),
    (["connect", "localhost"], {}, "localhost runs sac's scripts on this machine, without ssh"),
])
def test_connect_refuses_what_it_cannot_do_with_exit_2_and_runs_no_ssh(argv, env, message, monkeypatch, tmp_path):
    from sacgen.cli.sac import main

    monkeypatch.setenv("SAC_SSH", str(tmp_path / "no-ssh-here"))  # any ssh call would fail otherwise
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        assert main(argv) == 2
    assert err.getvalue().startswith("sac: " + message) and len(err.getvalue().splitlines()) == 1


@pytest.mark.parametrize("prog, argv, first", [
    ("sac", ["agent", "bogus"], "sac agent: argument VERB: invalid choice: 'bogus'"),
    ("sac", ["list", "--jsn"], "sac: unrecognized arguments: --jsn"),
    ("sacgen", ["schema", "--kind", "Foo"], "sacgen schema: argument --kind: invalid choice: 'Foo'"),
    ("scitex-hpc", ["reservations", "book"], "scitex-hpc reservations book: the following arguments are required"),
])
def test_a_usage_error_says_what_is_wrong_on_its_first_line_then_the_usage(prog, argv, first):
    from sacgen.cli import parsers

    p = {"sac": lambda: parsers.sac_parser(argv), "sacgen": parsers.sacgen_parser,
         "scitex-hpc": parsers.hpc_parser}[prog]()
    _, code, _, err = _outcome(p, argv)
    assert code == 2
    assert err.splitlines()[0].startswith(first), err
    assert err.splitlines()[1].startswith("usage: ")


@pytest.mark.parametrize("argv, args", [
    (["run", "s.sh", "--host", "h", "--", "a", "b c", "--host"], ("a", "b c", "--host")),
    (["run", "--host", "h", "s.sh", "--", "a"], ("a",)),
    (["run", "s.sh", "a", "b", "--host", "h"], ("a", "b")),
    (["run", "s.sh", "--host", "h"], ()),
    (["run", "--host", "h", "--", "s.sh", "-a", "b"], ("-a", "b")),
    (["run", "--host=h", "--", "s.sh"], ()),
])
def test_sac_run_hands_the_script_every_argument_after_the_double_dash(argv, args, monkeypatch):
    from sacgen.cli.sac import main
    from sacgen.run import steps

    seen = []
    monkeypatch.setattr(steps, "run_script", lambda path, host, a: seen.append((path.name, host, a)) or
                        (0, "out\n\n@sac-end 0 0\n", ""))
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(argv) == 0
    assert seen == [("s.sh", "h", args)]
    assert out.getvalue() == "out\n"


# ----------------------------------------------------------------------------- outcomes and messages

def _sac(argv):
    from sacgen.cli.sac import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    return code, out.getvalue(), err.getvalue()


def _remote(monkeypatch, **result):
    """Every step answers `result` (ok), or fails as ssh would with unreachable=True."""
    from sacgen.run import steps

    def fake(items, progress=None):
        if result.get("unreachable"):
            return [steps.Outcome(i.name, i.host, False, {}, f"cannot reach host {i.host}: refused", unreachable=True,
                                  kind=i.kind) for i in items]
        return [steps.Outcome(i.name, i.host, True, dict(result), kind=i.kind) for i in items]
    monkeypatch.setattr(steps, "run_grouped", fake)


@pytest.mark.parametrize("argv", [["reservations", "get", "Bad_Name"], ["reservations", "refresh", "x_y", "--host", "h"],
                                  ["reservations", "release", "x.y"], ["reservations", "book", "Bad", "--host", "h"],
                                  ["agent", "migrate", "f.yaml", "--reservation", "Pool"]])
def test_a_reservation_name_that_is_not_one_is_a_usage_error(argv, tmp_path, monkeypatch):
    monkeypatch.setenv("SAC_HOME", str(tmp_path))
    _remote(monkeypatch, state="RUNNING")
    code, _, err = _sac(argv)
    assert code == 2 and "is not a reservation name" in err and len(err.splitlines()) == 1


def test_refresh_adopts_only_a_reservation_that_is_there(tmp_path, monkeypatch):
    monkeypatch.setenv("SAC_HOME", str(tmp_path))
    _remote(monkeypatch, state="ABSENT", job_id=None)
    code, _, err = _sac(["reservations", "refresh", "nope", "--host", "h"])
    assert code == 1 and "no reservation 'nope' on h" in err and "nothing was adopted" in err
    assert not (tmp_path / "state.json").exists()
    _remote(monkeypatch, state="RUNNING", job_id="7", node="n1")
    code, out, _ = _sac(["reservations", "refresh", "pool", "--host", "h"])
    assert code == 0 and "job 7 RUNNING on n1" in out
    assert json.loads((tmp_path / "state.json").read_text())["reservations"]["pool"]["job_id"] == "7"


@pytest.mark.parametrize("argv", [["reservations", "get", "pool"], ["reservations", "list"],
                                  ["reservations", "get", "pool", "--json"], ["reservations", "list", "--json"],
                                  ["agent", "status", "a"], ["agent", "status", "a", "--json"], ["list", "--json"],
                                  ["agent", "stop", "a", "--json"]])
def test_an_unreachable_host_is_exit_3_with_one_line_on_stderr_whatever_the_output(argv, tmp_path, monkeypatch):
    monkeypatch.setenv("SAC_HOME", str(tmp_path))
    (tmp_path / "state.json").write_text(json.dumps({
        "agents": {"a": {"runtime": "slurm", "host": "h"}}, "reservations": {"pool": {"host": "h"}}}))
    _remote(monkeypatch, unreachable=True)
    code, _, err = _sac(argv)
    assert code == 3 and "cannot reach host h" in err and len(err.splitlines()) == 1, err


@pytest.mark.parametrize("json_flag", [[], ["--json"]], ids=["text", "json"])
def test_start_on_an_unreachable_host_is_exit_3_with_one_line_on_stderr(json_flag, tmp_path, monkeypatch):
    from .conftest import ROOT

    monkeypatch.setenv("SAC_HOME", str(tmp_path))
    _remote(monkeypatch, unreachable=True)
    code, _, err = _sac(["agent", "start", str(ROOT / "examples" / "head-spartan" / "head-spartan.yaml"), *json_flag])
    assert code == 3 and err == "sac: head-spartan: cannot reach host spartan: refused\n", err


def test_start_refuses_an_agent_running_elsewhere_than_its_yaml_now_says_and_runs_nothing(tmp_path, monkeypatch):
    """Started as a tenant, its YAML now runtime slurm (or the other way, or
    another reservation or host): starting it would leave the running one
    behind, out of reach of stop."""
    from sacgen.run import steps

    from .conftest import ROOT

    monkeypatch.setenv("SAC_HOME", str(tmp_path))
    (tmp_path / "state.json").write_text(json.dumps({
        "agents": {"head-spartan": {"runtime": "slurm-tenant", "host": "spartan", "reservation": "dev-pool",
                                    "job_id": "41"}},
        "reservations": {"dev-pool": {"host": "spartan"}}}))
    ran = []
    monkeypatch.setattr(steps, "run_grouped", lambda items, progress=None: ran.extend(items) or [])
    path = str(ROOT / "examples" / "head-spartan" / "head-spartan.yaml")
    code, out, err = _sac(["agent", "start", path])
    assert code == 1 and ran == []
    assert err == ("sac: head-spartan: agent head-spartan was started in reservation dev-pool on spartan (job 41); "
                   "its YAML now says as runtime slurm on spartan: stop it first (sac agent stop head-spartan stops "
                   "it where it runs), then start it again\n"), err
    code, out, _ = _sac(["agent", "start", path, "--json"])
    assert code == 1 and json.loads(out)[0]["moved"] is True
    # Where it was started, it is an ordinary start.
    _remote(monkeypatch, ok=True, job_id="42")
    state = json.loads((tmp_path / "state.json").read_text())
    state["agents"]["head-spartan"] = {"runtime": "slurm", "host": "spartan", "job_id": "40"}
    (tmp_path / "state.json").write_text(json.dumps(state))
    code, out, _ = _sac(["agent", "start", path])
    assert code == 0 and "submitted job 42" in out


@pytest.mark.parametrize("how", ["ctrl-c", "SIGTERM", "SIGHUP"])
def test_book_interrupted_while_it_waits_is_remembered_so_that_get_and_release_reach_its_job(how, tmp_path,
                                                                                              monkeypatch):
    import signal

    from sacgen.run import steps

    monkeypatch.setenv("SAC_HOME", str(tmp_path))

    def interrupted(items, progress=None):
        if how == "ctrl-c":
            raise KeyboardInterrupt
        os.kill(os.getpid(), getattr(signal, how))
        pytest.fail("the signal did not end the wait")
    monkeypatch.setattr(steps, "run_grouped", interrupted)
    default = signal.getsignal(signal.SIGTERM)
    code, _, err = _sac(["reservations", "book", "pool", "--host", "h", "--tmux-server", "sac"])
    assert code == 130
    assert "pool: interrupted; its job may be queued on h: sac reservations get pool shows it" in err
    rec = json.loads((tmp_path / "state.json").read_text())["reservations"]["pool"]
    assert rec["host"] == "h" and rec["tmux_server"] == "sac" and rec["job_id"] is None
    assert signal.getsignal(signal.SIGTERM) == default  # as it was
    _remote(monkeypatch, ok=True, cancelled=["77"])
    code, out, _ = _sac(["reservations", "release", "pool"])
    assert code == 0 and "cancelled job(s) 77" in out


@pytest.mark.parametrize("argv, bad", [
    (["agent", "logs", "a", "-n", "-3"], "'-3' is not a whole number from 1 to 100,000"),
    (["agent", "logs", "a", "-n", "0"], "'0' is not a whole number from 1"),
    (["agent", "logs", "a", "-n", "99999999999999999999"], "'99999999999999999999' is not a whole number"),
    (["reservations", "book", "p", "--host", "h", "--wait-timeout", "-5"], "'-5' is not a whole number from 0"),
])
def test_counts_out_of_range_are_usage_errors_and_run_nothing(argv, bad, tmp_path, monkeypatch):
    from sacgen.run import steps

    monkeypatch.setenv("SAC_HOME", str(tmp_path))
    monkeypatch.setattr(steps, "run_grouped", lambda items, progress=None: pytest.fail("ran something"))
    from sacgen.cli.parsers import sac_parser as parser

    _, code, _, err = _outcome(parser(argv), argv)
    assert code == 2 and bad in err.splitlines()[0], err


def test_a_name_given_twice_to_stop_is_stopped_once(tmp_path, monkeypatch):
    from sacgen.run import steps

    monkeypatch.setenv("SAC_HOME", str(tmp_path))
    (tmp_path / "state.json").write_text(json.dumps({"agents": {"a": {"runtime": "slurm", "host": "h"}}}))
    ran = []
    monkeypatch.setattr(steps, "run_grouped", lambda items, progress=None: ran.extend(items) or [
        steps.Outcome(n, h, True, {"cancelled": ["5"]}) for n, h, *_ in items])
    code, out, _ = _sac(["agent", "stop", "a", "a"])
    assert code == 0 and [i.name for i in ran] == ["a"] and out == "a: cancelled job(s) 5 on h\n"


def test_start_by_name_finds_the_yaml_it_was_started_from_outside_the_discovery_folders(tmp_path, monkeypatch):
    import shutil

    from .conftest import ROOT

    monkeypatch.setenv("SAC_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("SCITEX_AGENT_CONTAINER_YAML_DIRS", str(tmp_path / "none"))
    (tmp_path / "elsewhere").mkdir()
    yaml = tmp_path / "elsewhere" / "head-spartan.yaml"
    shutil.copy(ROOT / "examples" / "head-spartan" / "head-spartan.yaml", yaml)
    _remote(monkeypatch, ok=True, job_id="5")
    code, _, err = _sac(["agent", "start", "head-spartan"])
    assert code == 2 and "not started from here before" in err
    assert _sac(["agent", "start", str(yaml)])[0] == 0
    code, _, err = _sac(["agent", "stop", "head-spartan"])
    assert code == 0, err
    code, out, err = _sac(["agent", "start", "head-spartan"])
    assert code == 0 and "submitted job 5" in out, err


@pytest.mark.parametrize("state, says", [("RUNNING", "reservation p still booked"),
                                         ("ABSENT", "reservation p has no live job (released, or ended)")])
def test_a_tenant_stop_says_whether_its_reservation_lives_on(state, says, tmp_path, monkeypatch):
    monkeypatch.setenv("SAC_HOME", str(tmp_path))
    (tmp_path / "state.json").write_text(json.dumps({
        "agents": {"a": {"runtime": "slurm-tenant", "host": "h", "reservation": "p"}}}))
    _remote(monkeypatch, ok=True, reservation="p", killed=False, reservation_state=state)
    code, out, _ = _sac(["agent", "stop", "a"])
    assert code == 0 and out == f"a: no session was running (nothing to stop); {says}\n", out


def test_stop_all_json_with_nothing_to_stop_is_an_empty_list(tmp_path, monkeypatch):
    monkeypatch.setenv("SAC_HOME", str(tmp_path))
    assert _sac(["agent", "stop", "--all", "--json"]) == (0, "[]\n", "")


def test_dry_run_json_lists_each_hosts_program_and_says_when_no_ssh_is_used(tmp_path, monkeypatch):
    from .conftest import ROOT

    monkeypatch.setenv("SAC_HOME", str(tmp_path))
    monkeypatch.setenv("SAC_HOST", "localhost")
    code, out, _ = _sac(["agent", "start", str(ROOT / "examples" / "head-spartan" / "head-spartan.yaml"),
                         "--dry-run", "--json"])
    assert code == 0
    (plan,) = json.loads(out)
    assert plan["agents"] == ["head-spartan"] and plan["program"].startswith("{\n")


def test_an_agent_name_that_is_a_reservations_job_name_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("SAC_HOME", str(tmp_path))
    (tmp_path / "state.json").write_text(json.dumps({"agents": {"res-x": {"runtime": "slurm", "host": "h"}}}))
    _remote(monkeypatch, state="RUNNING")
    for argv in (["agent", "status", "res-x"], ["agent", "stop", "res-x"], ["agent", "logs", "res-x"]):
        code, _, err = _sac(argv)
        assert code == 2 and "may not start with 'res-'" in err, (argv, err)


@pytest.mark.parametrize("cpus", ["010", "0x10", "4.0", "1_0"])
def test_book_takes_a_count_only_in_plain_decimal_digits(cpus, tmp_path, monkeypatch):
    monkeypatch.setenv("SAC_HOME", str(tmp_path))
    _remote(monkeypatch, state="RUNNING")
    code, _, err = _sac(["reservations", "book", "p", "--host", "h", "--cpus", cpus, "--no-wait"])
    assert code == 2 and err.startswith("sac: --cpus: ") and cpus in err


def test_an_ssh_command_that_fails_without_running_anything_is_said_in_one_line(tmp_path, monkeypatch):
    monkeypatch.setenv("SAC_HOME", str(tmp_path))
    monkeypatch.setenv("SAC_SSH", "false")
    (tmp_path / "state.json").write_text(json.dumps({"agents": {"a": {"runtime": "slurm", "host": "h"}}}))
    code, out, err = _sac(["agent", "status", "a", "--json"])
    assert code == 1 and json.loads(out)["state"] == "UNKNOWN"
    assert err == "sac: a: could not ask: no answer from the script on h (the ssh command ended with exit 1)\n"
    script = tmp_path / "s.sh"
    script.write_text("echo hi\n")
    code, out, err = _sac(["run", str(script), "--host", "h"])
    assert (code, out) == (1, "") and err == "sac: s.sh did not run to its end on h (the ssh command ended with exit 1)\n"


def test_an_agent_stopped_or_failed_to_start_is_still_found_by_its_name(tmp_path, monkeypatch):
    """Its YAML may be outside the discovery folders: the registry keeps it, off
    `sac list`, so that `status` and `logs` by name still find it."""
    import shutil

    from .conftest import ROOT

    monkeypatch.setenv("SAC_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("SCITEX_AGENT_CONTAINER_YAML_DIRS", str(tmp_path / "nowhere"))
    (tmp_path / "x" / "head-spartan").mkdir(parents=True)
    yaml = tmp_path / "x" / "head-spartan" / "head-spartan.yaml"
    shutil.copy(ROOT / "examples" / "head-spartan" / "head-spartan.yaml", yaml)
    _remote(monkeypatch, ok=True, job_id="7", state="PENDING")
    assert _sac(["agent", "start", str(yaml)])[0] == 0
    assert _sac(["agent", "stop", "head-spartan"])[0] == 0
    assert json.loads(_sac(["list", "--json"])[1]) == []
    _remote(monkeypatch, state="ABSENT", job_id=None, session_alive=False)
    code, out, _ = _sac(["agent", "status", "head-spartan", "--json"])
    assert code == 0 and json.loads(out)["state"] == "ABSENT"
    # A start that fails on the cluster: its logs are to be found by name too.
    from sacgen.run import steps

    monkeypatch.setattr(steps, "run_grouped", lambda items, progress=None: [
        steps.Outcome(n, h, False, {"ok": False}, f"pre_agent hook not found; see: sac agent logs {n}")
        for n, h, *_ in items])
    (tmp_path / "home" / "state.json").unlink()
    assert _sac(["agent", "start", str(yaml)])[0] == 1
    _remote(monkeypatch, ok=True, source="log", text="the hook was not found\n")
    code, out, _ = _sac(["agent", "logs", "head-spartan"])
    assert code == 0 and "the hook was not found" in out


def test_bad_ssh_settings_and_squeues_none_are_said_plainly(tmp_path, monkeypatch):
    monkeypatch.setenv("SAC_HOME", str(tmp_path))
    (tmp_path / "state.json").write_text(json.dumps({"agents": {"a": {"runtime": "slurm", "host": "h"}}}))
    monkeypatch.setenv("SAC_SSH_PERSIST", "abc")
    monkeypatch.setenv("SAC_SSH", "false")
    code, _, err = _sac(["agent", "status", "a"])
    assert code == 2 and err.startswith("sac: SAC_SSH_PERSIST='abc' is not a duration")
    monkeypatch.delenv("SAC_SSH_PERSIST")
    _remote(monkeypatch, state="RUNNING", job_id="7", reason="None", session_alive=True)
    assert json.loads(_sac(["agent", "status", "a", "--json"])[1])["reason"] is None
    code, _, err = _sac(["reservations", "book", "p", "--host", "h", "--time", "20", "--persistent", "--no-wait"])
    assert code == 2 and "give a shorter --resubmit-before" in err


def _pool_known(tmp_path, pool="dev-pool", host="spartan"):
    (tmp_path / "state.json").write_text(json.dumps({"reservations": {pool: {
        "host": host, "job_id": "41", "node": "n1", "state": "RUNNING"}}}))


def test_dry_run_prints_exactly_the_program_start_sends(tmp_path, monkeypatch):
    """Three tenants and a runtime-slurm agent on one host: their launches are
    batched behind one launch-queue step, in the dry run as in the real start."""
    from sacgen.errors import HostUnreachable
    from sacgen.run import remote, steps

    from .conftest import ROOT

    monkeypatch.setenv("SAC_HOME", str(tmp_path))
    _pool_known(tmp_path)
    monkeypatch.setattr(steps.time, "time_ns", lambda: 1234)
    code, out, err = _sac(["agent", "start", str(ROOT / "examples"), "--dry-run", "--json"])
    assert code == 0 and err == "", err
    plans = {p["host"]: p for p in json.loads(out)}
    spartan = plans["spartan"]
    assert sorted(spartan["agents"]) == ["dev-helper", "doc-builder", "gpu-trainer", "head-spartan", "test-runner"]
    assert "export SAC_LAUNCH_BATCH=" in spartan["program"]

    sent = {}

    def fake_batch(host, steps, timeout=None, progress=None):
        sent[host] = remote.compose(steps)
        raise HostUnreachable(f"cannot reach host {host}: test")
    monkeypatch.setattr(steps, "run_batch", fake_batch)
    code, _, _ = _sac(["agent", "start", str(ROOT / "examples")])
    assert code == 3 and set(sent) == set(plans)
    assert all(sent[h] == plans[h]["program"] for h in plans)


def test_a_folder_starts_its_agents_and_passes_over_its_reservations(tmp_path, monkeypatch):
    from .conftest import ROOT

    monkeypatch.setenv("SAC_HOME", str(tmp_path))
    _pool_known(tmp_path)
    _remote(monkeypatch, job_id="7", reservation="dev-pool", node="n1")
    code, out, err = _sac(["agent", "start", str(ROOT / "examples"), "--json"])
    names = sorted(o["name"] for o in json.loads(out))
    assert names == ["dev-helper", "doc-builder", "every-field", "gpu-trainer", "head-spartan", "test-runner"], (out, err)
    # A Reservation named on its own is refused; a folder with nothing else in it too.
    code, _, err = _sac(["agent", "start", str(ROOT / "examples" / "dev-pool" / "dev-pool.yaml"), "--dry-run"])
    assert code == 2 and "dev-pool.yaml: is a Reservation; book it with `sac reservations book`" in err
    code, _, err = _sac(["agent", "start", str(ROOT / "examples" / "dev-pool"), "--dry-run"])
    assert code == 2 and "no Agent YAMLs in" in err and "(only Reservations)" in err


def test_start_all_starts_what_it_can_when_a_reservation_is_not_known_here(tmp_path, monkeypatch):
    """A tenant whose reservation is not known here is refused on its own line;
    the other agents are still started (exit 1: not everything started)."""
    from .conftest import ROOT

    monkeypatch.setenv("SAC_HOME", str(tmp_path))
    monkeypatch.setenv("SCITEX_AGENT_CONTAINER_YAML_DIRS", str(ROOT / "examples"))
    _remote(monkeypatch, job_id="7")
    code, out, err = _sac(["agent", "start", "--all"])
    assert code == 1
    assert "head-spartan: submitted job 7 on spartan" in out and "every-field: submitted job 7" in out
    for name in ("dev-helper", "doc-builder", "test-runner"):
        assert f"{name}: reservation 'dev-pool' is not known here; book it with" in err
    assert out.endswith("started 3, already running 0, failed 3\n")
    assert set(json.loads((tmp_path / "state.json").read_text())["agents"]) == {"head-spartan", "every-field",
                                                                                "gpu-trainer"}
    code, out, err = _sac(["agent", "start", "--all", "--dry-run"])
    assert code == 1 and "# sac would run this on spartan (one ssh connection, 2 agent(s)):" in out
    assert err.count("would not start: reservation 'dev-pool' is not known here") == 3


def test_book_takes_a_reservation_file_and_refuses_flags_beside_it(tmp_path, monkeypatch):
    from sacgen.run import reservations, steps

    from .conftest import ROOT

    monkeypatch.setenv("SAC_HOME", str(tmp_path / "home"))
    booked = []
    monkeypatch.setattr(reservations, "book", lambda spec, wait, progress=None: booked.append((spec, wait)) or steps.Outcome(
        spec.name, spec.host, True, {"job_id": "9", "state": "RUNNING", "node": "n1"}))
    pool = ROOT / "examples" / "dev-pool" / "dev-pool.yaml"
    code, out, err = _sac(["reservations", "book", str(pool), "--wait-timeout", "20"])
    assert code == 0 and out == "dev-pool: booked, job 9 RUNNING on n1 (spartan)\n", err
    ((spec, wait),) = booked
    assert (spec.name, spec.host, spec.cpus, spec.mem, spec.time, spec.tmux_server, spec.persistent, wait) == (
        "dev-pool", "spartan", 8, "32G", "7-0", "sac", True, 20)
    for argv, says in (([str(pool), "--host", "h", "--persistent"], "leave out --host, --persistent"),
                       ([str(ROOT / "examples" / "dev-helper" / "dev-helper.yaml")], "is an Agent; start it with"),
                       ([str(ROOT / "examples")], "is a folder; give one Reservation YAML file"),
                       (["dev-pool"], "--host is required when booking by NAME")):
        code, out, err = _sac(["reservations", "book", *argv])
        assert code == 2 and says in err and len(err.splitlines()) == 1 and out == "", (argv, err)
    bad = tmp_path / "bad-pool.yaml"
    bad.write_text("apiVersion: scitex-agent-container/v3\nkind: Reservation\nspec:\n  host: h\n  cpus: lots\n")
    code, _, err = _sac(["reservations", "book", str(bad)])
    assert code == 2 and "spec.cpus" in err
    assert len(booked) == 1


def _ssh_that_breaks(tmp_path, monkeypatch, began: bool):
    """A $SAC_SSH whose connection breaks (exit 255): after the program began
    on the host (it printed its first line), or before it got there."""
    fake = tmp_path / "ssh"
    first = "printf '@sac-begin\\n'\n" if began else ""
    fake.write_text(f"#!/bin/bash\n{first}echo 'Connection to h closed by remote host.' >&2\nexit 255\n")
    fake.chmod(0o755)
    monkeypatch.setenv("SAC_SSH", str(fake))
    monkeypatch.setenv("SAC_SSH_CONTROL", "0")


def test_a_connection_that_breaks_after_the_script_began_is_not_unreachable(tmp_path, monkeypatch):
    from sacgen.errors import HostUnreachable
    from sacgen.run.remote import Step, run_batch

    _ssh_that_breaks(tmp_path, monkeypatch, began=True)
    batch = run_batch("h", [Step("true\n", (), "x")])
    assert batch.lost == ("the connection to h broke while sac's script ran there "
                          "(Connection to h closed by remote host.): what it did is not known")
    _ssh_that_breaks(tmp_path, monkeypatch, began=False)
    with pytest.raises(HostUnreachable, match="^cannot reach host h: Connection to h closed"):
        run_batch("h", [Step("true\n", (), "x")])


def _ssh_that_runs_then_breaks(tmp_path, monkeypatch, steps_done: int):
    """A $SAC_SSH that runs the program here (as the login node would) and
    breaks the connection once STEPS_DONE steps have ended."""
    fake = tmp_path / "ssh"
    fake.write_text(f"""#!/bin/bash
cmd=${{@: -1}}
if [[ $cmd == "bash -l -s" ]]; then prog=$(cat); else prog=$(bash -c "${{cmd% | bash -l -s}}"); fi
bash -c "$prog" 2>/dev/null | awk -v n={steps_done} '{{print; fflush()}} /^@sac-end / && ++k == n {{exit}}'
echo 'Connection to h closed by remote host.' >&2
exit 255
""")
    fake.chmod(0o755)
    monkeypatch.setenv("SAC_SSH", str(fake))
    monkeypatch.setenv("SAC_SSH_CONTROL", "0")


def test_steps_cut_off_by_a_broken_connection_are_lost_and_the_finished_ones_count(tmp_path, monkeypatch):
    from sacgen.run import steps
    from sacgen.run.remote import Step

    _ssh_that_runs_then_breaks(tmp_path, monkeypatch, steps_done=1)
    ok = "printf '@sac-result {\"ok\":true}\\n'\n"
    Item, Kind = steps.Item, steps.Kind
    a, b = steps.run_grouped([Item("a", "h", Step(ok, (), "a")), Item("b", "h", Step("sleep 0.2\n" + ok, (), "b"))])
    assert a.ok and not a.result.get("lost")
    assert not b.ok and b.result == {"lost": True} and b.error.startswith("the connection to h broke")
    assert steps.exit_status([a, b]) == 1
    # Tenants queued by their start.sh take the queue step's fate.
    queued = "printf '@sac-result {\"ok\":true,\"queued\":true}\\n'\n"
    _ssh_that_runs_then_breaks(tmp_path, monkeypatch, steps_done=2)
    queue = Item("launch-queue.sh", "h", Step("sleep 0.2\n", (), "launch-queue.sh"), Kind.LAUNCH_QUEUE)
    outs = steps.merge_queued(steps.run_grouped([Item("t1", "h", Step(queued, (), "t1")),
                                                 Item("t2", "h", Step(queued, (), "t2")), queue]), Kind.LAUNCH_QUEUE)
    assert [(o.name, o.ok, o.result) for o in outs] == [("t1", False, {"lost": True}), ("t2", False, {"lost": True})]


def test_sac_run_prints_the_scripts_output_only(tmp_path, monkeypatch):
    monkeypatch.setenv("SAC_HOME", str(tmp_path / "home"))
    script = tmp_path / "s.sh"
    script.write_text("echo hello\nprintf 'no newline'\n")
    import subprocess
    import sys

    r = subprocess.run([sys.executable, "-c", "from sacgen.cli.sac import console; console()", "run", "--host",
                        "localhost", str(script)], capture_output=True, text=True, env=dict(os.environ),
                       cwd=tmp_path)
    assert (r.returncode, r.stdout) == (0, "hello\nno newline"), r.stderr


def test_a_book_whose_connection_breaks_is_recorded_so_that_get_and_release_reach_its_job(tmp_path, monkeypatch):
    monkeypatch.setenv("SAC_HOME", str(tmp_path / "home"))
    _ssh_that_breaks(tmp_path, monkeypatch, began=True)
    code, _, err = _sac(["reservations", "book", "pool", "--host", "h", "--tmux-server", "sac"])
    assert code == 1 and "the connection to h broke" in err and "sac reservations release pool cancels it" in err
    rec = json.loads((tmp_path / "home" / "state.json").read_text())["reservations"]["pool"]
    assert rec["host"] == "h" and rec["state"] == "UNKNOWN" and rec["tmux_server"] == "sac"
    # Before the script began: nothing happened there, nothing is recorded.
    _ssh_that_breaks(tmp_path, monkeypatch, began=False)
    code, _, err = _sac(["reservations", "book", "other", "--host", "h"])
    assert code == 3 and "other" not in json.loads((tmp_path / "home" / "state.json").read_text())["reservations"]


def test_a_start_whose_connection_breaks_is_recorded_as_running(tmp_path, monkeypatch):
    from .conftest import ROOT

    monkeypatch.setenv("SAC_HOME", str(tmp_path / "home"))
    _ssh_that_breaks(tmp_path, monkeypatch, began=True)
    monkeypatch.setenv("SAC_HOST", "h")
    yaml_path = tmp_path / "solo" / "solo.yaml"
    yaml_path.parent.mkdir()
    yaml_path.write_text((ROOT / "examples" / "head-spartan" / "head-spartan.yaml").read_text()
                         .replace("host: spartan", "host: h"))
    code, _, err = _sac(["agent", "start", str(yaml_path)])
    assert code == 1 and "the connection to h broke" in err and "sac agent stop solo stops it" in err
    rec = json.loads((tmp_path / "home" / "state.json").read_text())["agents"]["solo"]
    assert rec["host"] == "h" and rec["job_id"] is None and rec["runtime"] == "slurm"


def test_a_runtime_slurm_agent_found_already_running_is_adopted(tmp_path, monkeypatch):
    from sacgen.run import steps

    from .conftest import ROOT

    monkeypatch.setenv("SAC_HOME", str(tmp_path))
    monkeypatch.setattr(steps, "run_grouped", lambda items, progress=None: [steps.Outcome(n, h, False, {"already": True, "job_id": "77"},
                        "agent head-spartan is already running (job 77 RUNNING); stop it first or use --force")
                        for n, h, *_ in items])
    code, _, err = _sac(["agent", "start", str(ROOT / "examples" / "head-spartan" / "head-spartan.yaml")])
    assert code == 1 and "already running (job 77 RUNNING)" in err
    rec = json.loads((tmp_path / "state.json").read_text())["agents"]["head-spartan"]
    assert rec["job_id"] == "77" and rec["host"] == "spartan"


@pytest.mark.parametrize("extra, says", [
    ({"last_job": "695", "last_exit": 127}, "in its last job 695 the agent exited with status 127, see: sac agent logs a"),
    ({"last_job": "695", "last_exit": None, "stopped": True}, "(no job of this agent is queued or running; stopped (sac agent stop))"),
    ({"last_job": "695", "last_exit": 127, "stopped": True},
     "in its last job 695 the agent exited with status 127, see: sac agent logs a; stopped (sac agent stop))"),
    ({"last_job": "695", "last_exit": None}, "; its last job was 695, see: sac agent logs a"),
    ({}, "(no job of this agent is queued or running)"),
])
def test_status_of_an_absent_agent_says_how_it_ended(extra, says, tmp_path, monkeypatch):
    monkeypatch.setenv("SAC_HOME", str(tmp_path))
    (tmp_path / "state.json").write_text(json.dumps({"agents": {"a": {"runtime": "slurm", "host": "h"}}}))
    _remote(monkeypatch, name="a", runtime="slurm", host="h", state="ABSENT", job_id=None, session_alive=False, **extra)
    code, out, _ = _sac(["agent", "status", "a"])
    assert code == 0 and says in out, out


def test_get_of_a_reservation_whose_job_ended_before_it_served_says_why(tmp_path, monkeypatch):
    monkeypatch.setenv("SAC_HOME", str(tmp_path))
    (tmp_path / "state.json").write_text(json.dumps({"reservations": {"p": {"host": "h", "job_id": "9"}}}))
    _remote(monkeypatch, name="p", host="h", state="ABSENT", job_id=None, tmux_server="sac",
            failed="job 9: could not start tmux server sac on n1 (another reservation ...)")
    code, out, _ = _sac(["reservations", "get", "p"])
    assert out.endswith("; it ended before it served, job 9: could not start tmux server sac on n1 "
                        "(another reservation ...)\n"), out


def test_release_json(tmp_path, monkeypatch):
    monkeypatch.setenv("SAC_HOME", str(tmp_path))
    (tmp_path / "state.json").write_text(json.dumps({
        "reservations": {"p": {"host": "h", "job_id": "9"}},
        "agents": {"t": {"runtime": "slurm-tenant", "host": "h", "reservation": "p"}}}))
    _remote(monkeypatch, ok=True, name="p", cancelled=["9"])
    code, out, err = _sac(["reservations", "release", "p", "--json"])
    assert code == 0 and json.loads(out) == {"name": "p", "host": "h", "ok": True, "cancelled": ["9"],
                                             "tenants_removed": ["t"], "error": None}, (out, err)
