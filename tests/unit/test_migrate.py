"""`sac agent migrate`: the file is rewritten in place into a tenant of the
reservation, whatever its YAML layout, keeping comments, line endings and the
pre_agent hook; what cannot be written is refused with one line naming the
user's file, and the file is left as it was."""

import json
import os

import pytest
import yaml

from sacgen.cli.sac import main
from sacgen.run import migrate as migrate_module

HEAD = "apiVersion: scitex-agent-container/v3\nkind: Agent\n"


@pytest.fixture
def pool(tmp_path, monkeypatch):
    """A reservation 'dev-pool' known here: 4 CPUs, 2G, 1 minute, not persistent."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("SAC_HOME", str(home))
    rec = {"host": "h", "persistent": False, "spec": {"cpus": 4, "mem": "2G", "time": "1", "persistent": False}}
    (home / "state.json").write_text(json.dumps({"version": 1, "agents": {}, "reservations": {"dev-pool": rec}}))
    return "dev-pool"


def run(path, pool, capsys):
    code = main(["agent", "migrate", str(path), "--reservation", pool])
    out, err = capsys.readouterr()
    return code, out, err


def migrated(tmp_path, pool, capsys, text, name="agent"):
    """Migrate TEXT (as agent.yaml); the new text."""
    path = tmp_path / f"{name}.yaml"
    path.write_text(text)
    code, _, err = run(path, pool, capsys)
    assert code == 0, err
    return path.read_text()


def spec_of(text):
    return yaml.safe_load(text)["spec"]


def test_block_file_keeps_comments_and_hook(tmp_path, pool, capsys):
    text = migrated(tmp_path, pool, capsys, (
        "# my agent\n" + HEAD + "spec:\n  runtime: slurm  # was slurm\n  model: x\n  slurm:\n"
        "    host: sac-login  # login node\n    # the hook loads modules\n    hooks:\n      pre_agent: ~/h.sh  # keep\n"
        "    cpus_per_task: 2\n  # the agent program\n  claude:\n    flags: [--x]\n"))
    assert text == (
        "# my agent\n" + HEAD + "spec:\n  runtime: slurm-tenant  # was slurm\n  model: x\n  slurm:\n"
        "    reservation: dev-pool\n    # the hook loads modules\n    hooks:\n      pre_agent: ~/h.sh  # keep\n"
        "  # the agent program\n  claude:\n    flags: [--x]\n")


@pytest.mark.parametrize("name", ["head-spartan", "every-field"])
def test_an_editor_modeline_survives(tmp_path, pool, capsys, name):
    """The examples' first line, `# yaml-language-server: $schema=...`, stays
    where it is, and the file still validates after migrate."""
    from sacgen.compile.specs import load_specs

    from .conftest import ROOT

    source = (ROOT / "examples" / name / f"{name}.yaml").read_text()
    modeline = "# yaml-language-server: $schema=../agent.schema.json\n"
    assert source.startswith(modeline)
    body = source.replace("    host: spartan\n", "    host: h\n")
    body = "".join(line for line in body.splitlines(True)  # what this pool cannot hold
                   if not line.lstrip().startswith(("time_limit:", "mem:", "cpus_per_task:")))
    text = migrated(tmp_path, pool, capsys, body, name=name)
    assert text.startswith(modeline) and text.count("yaml-language-server") == 1
    assert spec_of(text)["runtime"] == "slurm-tenant"
    (spec,) = load_specs([str(tmp_path / f"{name}.yaml")])
    assert spec.name == name


def test_flow_style_spec_keeps_the_hook(tmp_path, pool, capsys):
    text = migrated(tmp_path, pool, capsys,
                    HEAD + "spec: {runtime: slurm, model: x, slurm: {partition: debug, hooks: {pre_agent: ~/h.sh}}}\n")
    assert text == (HEAD + "spec: {runtime: slurm-tenant, model: x, "
                    "slurm: {reservation: dev-pool, hooks: {pre_agent: ~/h.sh}}}\n")


def test_flow_style_slurm_in_block_spec_keeps_the_hook(tmp_path, pool, capsys):
    text = migrated(tmp_path, pool, capsys, (
        HEAD + "spec:\n  runtime: slurm\n  model: x\n"
        "  slurm: {host: sac-login, cpus_per_task: 1, hooks: {pre_agent: ~/rvb/hook.sh}}  # flow\n"))
    assert text.endswith("  slurm: {reservation: dev-pool, hooks: {pre_agent: ~/rvb/hook.sh}}  # flow\n")
    assert spec_of(text)["slurm"] == {"reservation": "dev-pool", "hooks": {"pre_agent": "~/rvb/hook.sh"}}


def test_slurm_before_runtime(tmp_path, pool, capsys):
    text = migrated(tmp_path, pool, capsys, HEAD + "spec:\n  slurm:\n    partition: debug\n  runtime: slurm\n  model: x\n")
    assert text == HEAD + "spec:\n  slurm:\n    reservation: dev-pool\n  runtime: slurm-tenant\n  model: x\n"


def test_no_slurm_block_with_four_space_indent(tmp_path, pool, capsys):
    text = migrated(tmp_path, pool, capsys, HEAD + "spec:\n    runtime: slurm\n    model: x\n")
    assert text == HEAD + "spec:\n    runtime: slurm-tenant\n    model: x\n    slurm:\n        reservation: dev-pool\n"


def test_no_slurm_block_and_metadata_after_spec(tmp_path, pool, capsys):
    text = migrated(tmp_path, pool, capsys,
                    HEAD + "spec:\n  runtime: slurm\n  model: x  # last\nmetadata:\n  name: agent\n", name="agent")
    assert text == (HEAD + "spec:\n  runtime: slurm-tenant\n  model: x  # last\n  slurm:\n    reservation: dev-pool\n"
                    "metadata:\n  name: agent\n")


def test_no_slurm_block_flow_spec_and_no_final_newline(tmp_path, pool, capsys):
    assert migrated(tmp_path, pool, capsys, HEAD + "spec: {runtime: slurm, model: x}") == (
        HEAD + "spec: {runtime: slurm-tenant, model: x, slurm: {reservation: dev-pool}}")
    assert migrated(tmp_path, pool, capsys, HEAD + "spec:\n  runtime: slurm\n  model: x") == (
        HEAD + "spec:\n  runtime: slurm-tenant\n  model: x\n  slurm:\n    reservation: dev-pool\n")


def test_an_invalid_result_names_the_users_file_and_writes_nothing(tmp_path, pool, capsys, monkeypatch):
    path = tmp_path / "agent.yaml"
    original = HEAD + "spec:\n  runtime: slurm\n  model: x\n"
    path.write_text(original)
    monkeypatch.setattr(migrate_module, "rewrite", lambda text, pool: text.replace("model: x", "model: x\n  bogus: 1"))
    code, _, err = run(path, pool, capsys)
    assert code == 2
    assert err.startswith(f"{path}:6: spec.bogus: unknown field") and err.count("\n") == 1
    assert err.endswith(" (in the migrated text; the file is unchanged)\n")
    assert path.read_text() == original
    assert sorted(os.listdir(tmp_path)) == ["agent.yaml", "home"]


def test_a_layout_the_edit_cannot_follow_is_refused(tmp_path, pool, capsys):
    # The hook comes from a merge key: the edit would lose it. The rewritten
    # file must say what the old one said, as a tenant, or nothing is written.
    path = tmp_path / "agent.yaml"
    original = HEAD + "spec:\n  runtime: slurm\n  model: x\n  slurm:\n    <<: {hooks: {pre_agent: ~/h.sh}}\n"
    path.write_text(original)
    code, _, err = run(path, pool, capsys)
    assert code == 2
    assert err.startswith(f"sac: {path}: cannot migrate this YAML layout") and err.count("\n") == 1
    assert path.read_text() == original


def test_a_symlink_is_written_through(tmp_path, pool, capsys):
    real = tmp_path / "real"
    real.mkdir()
    target = real / "agent.yaml"
    target.write_text(HEAD + "spec:\n  runtime: slurm\n  model: x\n")
    link = tmp_path / "agent.yaml"
    link.symlink_to(target)
    code, _, err = run(link, pool, capsys)
    assert code == 0, err
    assert link.is_symlink() and os.readlink(link) == str(target)
    assert spec_of(target.read_text())["runtime"] == "slurm-tenant"
    assert sorted(os.listdir(real)) == ["agent.yaml"]


def test_crlf_line_endings_are_kept(tmp_path, pool, capsys):
    path = tmp_path / "agent.yaml"
    path.write_bytes((HEAD + "spec:\n  runtime: slurm\n  model: x\n  slurm:\n    partition: debug\n"
                      "    hooks:\n      pre_agent: ~/h.sh\n").replace("\n", "\r\n").encode())
    code, _, err = run(path, pool, capsys)
    assert code == 0, err
    raw = path.read_bytes()
    assert raw.count(b"\n") == raw.count(b"\r\n") == 9
    assert b"    reservation: dev-pool\r\n    hooks:\r\n" in raw
    path.write_bytes((HEAD + "spec:\n  runtime: slurm\n  model: x\n").replace("\n", "\r\n").encode())
    assert run(path, pool, capsys)[0] == 0
    assert path.read_bytes().endswith(b"  model: x\r\n  slurm:\r\n    reservation: dev-pool\r\n")


def test_the_walltime_refusal_says_its_unit(tmp_path, pool, capsys):
    path = tmp_path / "agent.yaml"
    original = HEAD + "spec:\n  runtime: slurm\n  model: x\n  slurm:\n    time_limit: 10\n    auto_resubmit: false\n"
    path.write_text(original)
    code, _, err = run(path, pool, capsys)
    assert code == 1
    assert "needs 10 min of walltime, the reservation has 1 min and is not persistent" in err
    assert path.read_text() == original


def test_a_directory_is_refused(tmp_path, pool, capsys):
    (tmp_path / "agent.yaml").write_text(HEAD + "spec:\n  runtime: slurm\n  model: x\n")
    code, _, err = run(tmp_path, pool, capsys)
    assert (code, err) == (2, f"sac: {tmp_path}: is a directory; migrate takes one agent YAML file\n")
