"""The local registry ($SAC_HOME/state.json): a file people may edit or damage
by hand. Whatever is in it, a command says what is wrong in one line."""

from __future__ import annotations

import contextlib
import io
import json
import os

import pytest

from sacgen.cli.sac import main

DAMAGED = [
    ('{"agents": 5}', "agents is not an object"),
    ('{"agents": null}', "agents is not an object"),
    ('{"agents": {"x": 5}}', "agents.x is not an object"),
    ('{"reservations": {"p": 1}}', "reservations.p is not an object"),
    ('{"reservations": {"p": {}}}', "reservations.p.host is missing or not a string"),
    ('{"agents": {"x": {"runtime": "slurm"}}}', "agents.x.host is missing or not a string"),
    ('{"agents": {"x": {"runtime": "bogus", "host": "h"}}}', "agents.x.runtime is not slurm or slurm-tenant"),
    ('{"agents": {"x": {"runtime": "slurm-tenant", "host": "h"}}}', "agents.x.reservation is missing"),
    ('{"agents": {"x": {"runtime": "slurm", "host": "h", "job_id": 7}}}', "agents.x.job_id is not a string"),
    ('{"agents": {"../x": {"runtime": "slurm", "host": "h"}}}', "agents: '../x' is not a name"),
    ('{"reservations": {"p": {"host": "h", "spec": []}}}', "reservations.p.spec is not an object"),
    ("[1, 2]", "is not valid JSON (not an object)"),
    ("{", "is not valid JSON"),
]


def _sac(*argv) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(argv))
    return code, out.getvalue(), err.getvalue()


@pytest.mark.parametrize("text, problem", DAMAGED, ids=[d[0] for d in DAMAGED])
@pytest.mark.parametrize("command", [("list",), ("reservations", "list"), ("agent", "status", "x"),
                                     ("reservations", "get", "p")])
def test_a_damaged_registry_is_one_line_naming_what_is_wrong(text, problem, command, tmp_path, monkeypatch):
    monkeypatch.setenv("SAC_HOME", str(tmp_path))
    monkeypatch.setenv("SAC_SSH", str(tmp_path / "no-ssh"))  # nothing may reach a host
    (tmp_path / "state.json").write_text(text)
    code, _, err = _sac(*command)
    assert code == 1, err
    assert err.startswith(f"sac: {tmp_path / 'state.json'} ") and problem in err and len(err.splitlines()) == 1
    assert (tmp_path / "state.json").read_text() == text  # never rewritten


def test_a_well_formed_registry_is_read(tmp_path, monkeypatch):
    from sacgen.run.registry import Registry

    monkeypatch.setenv("SAC_HOME", str(tmp_path))
    data = {"version": 1, "agents": {"a": {"runtime": "slurm-tenant", "host": "h", "reservation": "p",
                                           "job_id": None, "model": "opus"}},
            "reservations": {"p": {"host": "h", "job_id": "3", "spec": {"cpus": 2}, "persistent": True}}}
    (tmp_path / "state.json").write_text(json.dumps(data))
    assert Registry().read() == dict(data, stopped={})


def test_sac_home_and_its_cache_are_made_private(tmp_path, monkeypatch):
    from sacgen.paths import cache_folder as _cache_folder

    home = tmp_path / "new" / "home"
    monkeypatch.setenv("SAC_HOME", str(home))
    monkeypatch.delenv("SAC_CACHE", raising=False)
    os.umask(0o022)
    assert _cache_folder() == str(home / "cache")
    assert home.stat().st_mode & 0o777 == 0o700 and (home / "cache").stat().st_mode & 0o777 == 0o700


def test_an_sac_ssh_that_is_not_a_command_line_is_a_usage_error(tmp_path, monkeypatch):
    monkeypatch.setenv("SAC_HOME", str(tmp_path))
    monkeypatch.setenv("SAC_SSH", "ssh '")
    script = tmp_path / "s.sh"
    script.write_text("echo hi\n")
    code, _, err = _sac("run", str(script), "--host", "somewhere")
    assert code == 2 and err.startswith("sac: SAC_SSH=\"ssh '\" is not a command line") and len(err.splitlines()) == 1
