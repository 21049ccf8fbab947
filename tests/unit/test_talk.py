"""sac agent send / wait and list --watch, without a cluster: what is refused
before anything runs, when a state counts as the answer, the kept-open
connection that carries many rounds, and what the table shows."""

import contextlib
import io
import json
import time

import pytest

from sacgen.cli import output
from sacgen.cli.parsers import send_key
from sacgen.cli.sac import _send_args
from sacgen.compile.bashlib import library
from sacgen.run import agents, steps
from sacgen.run.remote import KeptSession, Step


def _sac(argv, stdin=None, monkeypatch=None):
    from sacgen.cli.sac import main

    out, err = io.StringIO(), io.StringIO()
    if stdin is not None:
        monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(stdin)))
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def registry(tmp_path, monkeypatch):
    monkeypatch.setenv("SAC_HOME", str(tmp_path))
    (tmp_path / "state.json").write_text(json.dumps({"version": 1, "reservations": {}, "agents": {
        "a1": {"runtime": "slurm", "host": "h1", "job_id": "5"},
        "a2": {"runtime": "slurm", "host": "h1", "job_id": "6"}}}))
    sent = []

    def fake(items, runner=None):
        sent.append(items)
        return [steps.Outcome(i.name, i.host, True, {"ok": True, "job_id": "5", "node": "n1", "sent_epoch": 7},
                              kind=i.kind) for i in items]
    monkeypatch.setattr(steps, "run_grouped", fake)
    return sent


@pytest.mark.parametrize("text", ["bell\x07", "cr\rlf", "esc\x1b[A", "del\x7f", "c1\x85", "nul\x00",
                                  "paste end \x1b[201~ then more"])
def test_control_characters_and_the_end_of_paste_are_refused_with_exit_2_and_nothing_runs(text, registry):
    code, out, err = _sac(["agent", "send", "a1", text])
    assert code == 2 and err.startswith("sac: ") and len(err.splitlines()) == 1
    assert registry == []


def test_tab_newline_quotes_dollar_unicode_and_a_leading_dash_go_through_unchanged(registry):
    text = "it's \"q\" $(x) `id` \\ \ttab\nline 2 ✓ é ☃ -x"
    code, out, err = _sac(["agent", "send", "a1", "--", text])
    assert code == 0, err
    (items,) = registry
    (item,) = items
    assert item.step.args == ("1", text) and item.step.private, "the text travels on stdin, never in a command line"


def test_stdin_text_loses_one_final_newline_and_must_be_utf8(registry, monkeypatch):
    code, _, err = _sac(["agent", "send", "a1", "-"], stdin="two\nlines\n\n".encode(), monkeypatch=monkeypatch)
    assert code == 0, err
    assert registry[0][0].step.args == ("1", "two\nlines\n")
    code, _, err = _sac(["agent", "send", "a1", "-"], stdin=b"\xff\xfe", monkeypatch=monkeypatch)
    assert code == 2 and "UTF-8" in err


def test_send_all_is_one_step_per_agent_in_one_batch_per_host_and_keys_follow(registry):
    code, out, err = _sac(["agent", "send", "--all", "hi", "--no-enter", "--key", "Escape", "C-c"])
    assert code == 0, err
    (items,) = registry
    assert [i.name for i in items] == ["a1", "a2"] and {i.host for i in items} == {"h1"}
    assert items[0].step.args == ("0", "hi", "Escape", "C-c")


@pytest.mark.parametrize("argv", [["agent", "send", "a1"], ["agent", "send"], ["agent", "send", "a1", "x", "y"],
                                  ["agent", "send", "--all", "a1", "x"], ["agent", "send", "a1", "--key", "Hyper"],
                                  ["agent", "send", "a1", "x", "--bogus"], ["agent", "wait", "a1"],
                                  ["agent", "wait", "a1", "--until", "asleep"], ["list", "--watch", "0"],
                                  ["list", "--watch", "--json"]])
def test_bad_usage_is_exit_2_and_runs_nothing(argv, registry):
    with pytest.raises(SystemExit) as e:
        code, _, _ = _sac(argv)
        raise SystemExit(code)
    assert e.value.code == 2
    assert registry == []


def test_options_may_come_anywhere_and_a_double_dash_ends_them():
    a = _send_args(["agent", "send", "x", "--no-enter", "typed"])
    assert (a.name, a.text, a.no_enter) == ("x", "typed", True)
    a = _send_args(["agent", "send", "--no-enter", "x", "--", "-y"])
    assert (a.name, a.text) == ("x", "-y")


@pytest.mark.parametrize("key", ["Enter", "Escape", "C-c", "M-x", "Up", "F1", "F12", "BSpace"])
def test_keys_on_the_list_pass(key):
    assert send_key(key) == key


@pytest.mark.parametrize("key", ["F0", "F13", "C-", "C-cc", "Hyper", "a", "Enter;", "-", ""])
def test_keys_off_the_list_are_refused(key):
    import argparse

    with pytest.raises(argparse.ArgumentTypeError):
        send_key(key)


@pytest.mark.parametrize("r, until, yes", [
    ({"activity": "idle", "activity_epoch": 100, "sent_epoch": 100}, "idle", True),   # the same second: after
    ({"activity": "idle", "activity_epoch": 99, "sent_epoch": 100}, "idle", False),   # from before the send
    ({"activity": "idle", "activity_epoch": 5, "sent_epoch": None}, "idle", True),    # never sent to
    ({"activity": "working", "activity_epoch": 101, "sent_epoch": 100}, "idle", False),
    ({"activity": "waiting", "activity_epoch": 101, "sent_epoch": 100}, "waiting", True),
    ({"state": "ABSENT", "runtime": "slurm"}, "ended", True),
    ({"state": "PENDING", "runtime": "slurm"}, "ended", False),                        # a successor waits
    ({"state": "UNKNOWN", "runtime": "slurm"}, "ended", False),                        # could not ask: not gone
    ({"state": "RUNNING", "runtime": "slurm-tenant", "session_alive": False}, "ended", True),
    ({"state": "RUNNING", "runtime": "slurm-tenant", "session_alive": None}, "ended", False),
])
def test_when_a_state_counts(r, until, yes):
    assert agents.reached(r, until) is yes


@pytest.mark.parametrize("raw, alive, act", [("idle", True, "idle"), ("ended", True, None), ("idle", False, None),
                                             ("working", None, None), (None, True, None)])
def test_activity_is_shown_only_for_a_live_session(raw, alive, act):
    r = {"activity": raw, "activity_epoch": 1700000000 if raw else None, "sent_epoch": 1699999999,
         "session_alive": alive}
    agents._activity(r)
    assert r["activity"] == act
    assert r["activity_since"] == ("2023-11-14T22:13:20Z" if act else None)
    assert r["sent_at"] == "2023-11-14T22:13:19Z"
    fields = output.status_fields(r)
    assert "activity_epoch" not in fields and "sent_epoch" not in fields and "activity" in fields


def test_the_table_has_activity_and_its_age():
    now = 1700000000.0
    row = output.list_row({"name": "a", "activity": "waiting", "activity_epoch": int(now) - 125,
                           "session_alive": True}, now)
    assert output.LIST_HEADER[7:9] == ["ACTIVITY", "SINCE"] and row[7:9] == ["waiting", "2m"]
    assert output.list_row({"name": "a"}, now)[7:9] == ["-", "-"]
    assert [output.age(s) for s in (-3, 0, 59, 60, 3600 * 5, 86400 * 3)] == ["0s", "0s", "59s", "1m", "5h", "3d"]


def test_reading_the_activity_takes_no_step_and_asks_no_squeue():
    needs = set(library().closure("sac_activity_v x y\n"))
    assert "sac_activity_v.sh" in needs and not needs & {"sac_in_job.sh", "sac_chain_v.sh", "sac_slurm_v.sh"}


def test_a_kept_session_carries_many_rounds_over_one_connection_and_nothing_leaks_between_them(tmp_path, monkeypatch):
    """localhost: the same `bash -l -s` process answers every round; an export of
    one round does not reach the next (each runs in a subshell)."""
    monkeypatch.setenv("HOME", str(tmp_path))
    kept = KeptSession("localhost")
    try:
        script = 'printf "\\n@sac-result {\\"pid\\":%s,\\"seen\\":\\"%s\\"}\\n" "$PPID" "${SAC_X:-}"\n'
        first = kept.run([Step(script, (), "a", env=(("SAC_X", "one"),)), Step(script, (), "b")])
        second = kept.run([Step(script, (), "c")])
        assert [s.result["seen"] for s in first.steps] == ["one", "one"]
        assert second.steps[0].result["seen"] == ""
        assert kept.proc is not None and kept.rounds == 2
        pid = kept.proc.pid
        third = kept.run([Step("exit 4\n", (), "d")])
        assert third.steps[0].status == 4 and kept.proc.pid == pid
    finally:
        kept.close()
    assert kept.proc is None


def test_wait_times_out_honestly_and_returns_once_every_agent_has_reached_it(tmp_path, monkeypatch):
    monkeypatch.setenv("SAC_HOME", str(tmp_path))
    (tmp_path / "state.json").write_text(json.dumps({"version": 1, "reservations": {}, "agents": {
        "a1": {"runtime": "slurm", "host": "h1", "job_id": "5"}}}))
    rounds: list = []
    answer_after = [99]

    def fake_status(names, runner=None):
        rounds.append(time.monotonic())
        act = "idle" if len(rounds) >= answer_after[0] else "working"
        return [steps.Outcome(n, "h1", True, {"state": "RUNNING", "session_alive": True, "activity": act,
                                              "activity_epoch": 10, "sent_epoch": 10}) for n in names]
    monkeypatch.setattr(agents, "status", fake_status)
    t0 = time.monotonic()
    status, last = agents.wait(["a1"], "idle", timeout=0.3, interval=0.1)
    assert status == 1 and time.monotonic() - t0 >= 0.3 and len(rounds) >= 3
    assert last["a1"]["activity"] == "working"
    rounds.clear()
    answer_after[0] = 3
    status, last = agents.wait(["a1"], "idle", timeout=5, interval=0.05)
    assert status == 0 and len(rounds) == 3 and last["a1"]["activity"] == "idle"
    rounds.clear()
    monkeypatch.setattr(agents, "status", lambda names, runner=None: [steps.Outcome(
        n, "h1", True, {"state": "ABSENT", "runtime": "slurm", "session_alive": False}) for n in names])
    status, last = agents.wait(["a1"], "idle", timeout=5, interval=0.05)
    assert status == 1 and last["a1"]["_ended"], "an agent that ended never becomes idle: said at once"
