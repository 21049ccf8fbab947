"""The compiler: validation errors, build output, golden files, lint."""

import json
import os
import re

import pytest

from sacgen.compile.build import check_tree, render_tree, write_tree
from sacgen.compile.lint import lint_specs
from sacgen.compile.specs import load_specs
from sacgen.errors import SpecError

from .conftest import ROOT, run_cli

INVALID = ROOT / "tests" / "fixtures" / "invalid"


def expected_invalid():
    rows = {}
    for line in (ROOT / "tests" / "fixtures" / "invalid-expected.tsv").read_text().splitlines():
        name, msg = line.split("\t", 1)
        rows.setdefault(name, []).append(msg)
    return rows


EXPECTED = expected_invalid()


def test_every_invalid_fixture_has_an_expectation():
    files = sorted(p.name for p in INVALID.iterdir())
    assert len(files) >= 60
    assert sorted(EXPECTED) == files


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_invalid_fixture_gives_its_error(name, tmp_path):
    out = tmp_path / "out"
    r = run_cli("sacgen", "build", f"tests/fixtures/invalid/{name}", "-o", str(out), timeout=20)
    assert r.returncode == 2, r.stderr
    assert "Traceback" not in r.stderr
    assert r.stdout == ""
    got = [line.replace(f"tests/fixtures/invalid/{name}:", "FILE:", 1) for line in r.stderr.splitlines()]
    assert got == EXPECTED[name]
    for line in r.stderr.splitlines():
        assert re.match(r"^tests/fixtures/invalid/[^:]+:\d+: [^:]+: .+", line), line
    assert not out.exists(), "nothing may be written for invalid input"


def test_all_errors_of_all_files_are_reported(tmp_path):
    r = run_cli("sacgen", "validate", "tests/fixtures/invalid/zero-cpus.yaml",
                "tests/fixtures/invalid/bad-memory.yaml", "examples")
    assert r.returncode == 2
    assert "zero-cpus.yaml:9: spec.slurm.cpus_per_task" in r.stderr
    assert "bad-memory.yaml:9: spec.slurm.mem" in r.stderr


def test_tenant_message_is_the_seeds():
    with pytest.raises(SpecError) as e:
        load_specs([str(INVALID / "tenant-without-reservation.yaml")])
    assert "runtime: slurm-tenant requires spec.slurm.reservation" in e.value.message


def test_sexagesimal_time_stays_a_time(tmp_path):
    f = tmp_path / "a.yaml"
    f.write_text("apiVersion: scitex-agent-container/v3\nkind: Agent\nspec:\n  runtime: slurm\n"
                 "  model: opus\n  slurm:\n    time_limit: 1:30:00\n    resubmit_before: 600\n")
    (spec,) = load_specs([str(f)])
    assert spec.time_limit == "1:30:00"
    assert "#SBATCH --time=1:30:00" in render_tree([spec])["a/job.sbatch"][0]


def test_build_is_deterministic_and_complete(tmp_path):
    specs = load_specs(["examples"])
    a, b = render_tree(specs), render_tree(load_specs(["examples"]))
    assert a == b
    names = {rel.split("/")[1] for rel in a if "/" in rel}
    assert {"start.sh", "status.sh", "attach.sh", "logs.sh", "stop.sh", "job.sbatch",
            "reservation.sbatch", "book.sh"} <= names
    manifest = json.loads(a["manifest.json"][0])
    assert {e["path"] for e in manifest["artifacts"]} == set(a) - {"manifest.json"}
    assert all(len(e["sha256"]) == 64 and e["spec"].startswith("examples/") for e in manifest["artifacts"])


def test_build_writes_tree_and_replaces_earlier_build(tmp_path):
    out = tmp_path / "out"
    r = run_cli("sacgen", "build", "examples", "-o", str(out))
    assert r.returncode == 0, r.stderr
    assert (out / "head-spartan" / "job.sbatch").is_file()
    assert os.access(out / "head-spartan" / "start.sh", os.X_OK)
    (out / "stale").mkdir()
    r = run_cli("sacgen", "build", "examples/head-spartan", "-o", str(out))
    assert r.returncode == 0
    assert not (out / "stale").exists() and not (out / "dev-pool").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["out"], "no temporary folders left behind"


def test_failed_build_leaves_output_as_it_was(tmp_path):
    out = tmp_path / "out"
    assert run_cli("sacgen", "build", "examples", "-o", str(out)).returncode == 0
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    r = run_cli("sacgen", "build", "examples", "tests/fixtures/invalid/bad-memory.yaml", "-o", str(out))
    assert r.returncode == 2
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before


def test_build_refuses_a_folder_it_did_not_make(tmp_path):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "thesis.tex").write_text("precious")
    r = run_cli("sacgen", "build", "examples", "-o", str(out))
    assert r.returncode == 2
    assert "refusing to replace it" in r.stderr
    assert (out / "thesis.tex").read_text() == "precious"


def test_golden_is_up_to_date():
    diff = check_tree(render_tree(load_specs(["examples"])), ROOT / "golden")
    assert diff == "", "golden/ is stale; review and run `make golden`:\n" + diff


def test_check_reports_drift_with_a_diff(tmp_path):
    golden = tmp_path / "golden"
    write_tree(render_tree(load_specs(["examples"])), golden)
    p = golden / "head-spartan" / "job.sbatch"
    p.write_text(p.read_text().replace("--mem=16G", "--mem=8G"))
    r = run_cli("sacgen", "build", "examples", "--check", str(golden))
    assert r.returncode == 1
    assert "-#SBATCH --mem=8G" in r.stdout and "+#SBATCH --mem=16G" in r.stdout
    r = run_cli("sacgen", "build", "examples", "--check", str(ROOT / "golden"))
    assert r.returncode == 0, r.stdout


def test_every_artifact_passes_shellcheck_and_bash_n():
    assert lint_specs(["examples"]) == []


def test_schema_command_prints_json():
    for kind in ("Agent", "Reservation"):
        r = run_cli("sacgen", "schema", "--kind", kind)
        assert r.returncode == 0
        assert json.loads(r.stdout)["title"] == kind


def test_bad_usage_exits_2():
    assert run_cli("sacgen", "build", "examples").returncode == 2
    assert run_cli("sacgen", "frobnicate").returncode == 2
    r = run_cli("sacgen", "validate", "no/such/file.yaml")
    assert r.returncode == 2 and "no such file" in r.stderr


def test_headers_name_generator_and_spec():
    files = render_tree(load_specs(["examples"]))
    for rel, (text, _) in files.items():
        if rel.endswith((".sh", ".sbatch")):
            lines = text.splitlines()
            assert lines[0].startswith("#!")
            assert "Generated by sacgen" in lines[2] and "examples/" in lines[2]


def _helper_names() -> list[str]:
    from sacgen.compile.bashlib import library

    return sorted(name for names in library().defines.values() for name in names)


def _artifacts_and_batch_helpers() -> dict[str, str]:
    from sacgen.compile.render import BATCH_HELPERS

    files = {rel: text for rel, (text, _) in render_tree(load_specs(["examples"])).items()
             if rel.endswith((".sh", ".sbatch"))}
    files.update({name: make() for name, make in BATCH_HELPERS.items()})
    return files


def test_each_script_defines_the_helpers_it_calls_and_no_others():
    """The helper library is cut down per script: a helper a script calls (a word
    outside comment lines and the helper's own definition line) is defined in it,
    and one its template never calls is not there. (The cut depends on the
    template alone: a helper called under a condition this spec does not meet,
    such as the hooks of an agent that has none, is carried all the same.)"""
    names = _helper_names()
    assert len(names) >= 15
    for rel, text in _artifacts_and_batch_helpers().items():
        assert "\x00" not in text, rel
        text = re.sub(r"(?m)^[ \t]*#.*$", "", text)
        defined = set(re.findall(r"^(sac_\w+)\(\) \{$", text, re.M))
        for name in names:
            uses = len(re.findall(rf"\b{name}\b", text)) - len(re.findall(rf"^{name}\(\) \{{$", text, re.M))
            assert uses == 0 or name in defined, (rel, name, uses)


def test_scripts_carry_fewer_helpers_than_the_library():
    files = _artifacts_and_batch_helpers()
    names = set(_helper_names())
    for rel in ("head-spartan/stop.sh", "head-spartan/attach.sh", "dev-helper/stop.sh", "dev-pool/release.sh"):
        defined = set(re.findall(r"^(sac_\w+)\(\) \{$", files[rel], re.M))
        assert "sac_launch" not in defined and len(defined) < len(names), (rel, sorted(defined))
    assert "sac_launch" in re.findall(r"^(sac_\w+)\(\) \{$", files["launch-queue.sh"], re.M)


@pytest.mark.parametrize("entries", [[], [{"path": "a/x.sh", "mode": "0755", "spec": "é \" \\ \n"}],
                                     [{"path": "p", "sha256": "0" * 64}, {"path": "q", "kind": "Agent"}]])
def test_manifest_is_indented_json_with_sorted_keys(entries):
    from sacgen import __version__
    from sacgen.compile.build import _manifest_json

    want = json.dumps({"generator": f"sacgen {__version__}", "artifacts": entries}, indent=2, sort_keys=True)
    assert _manifest_json(entries) == want + "\n"


def _tree(folder):
    """{relative path: (bytes, or None for a folder; mode)} of everything under FOLDER."""
    return {p.relative_to(folder).as_posix(): (None if p.is_dir() else p.read_bytes(), p.stat().st_mode & 0o7777)
            for p in sorted(folder.rglob("*"))}


def _many_specs(folder, n=40):
    for i in range(n):
        d = folder / f"set{i % 3}"
        d.mkdir(parents=True, exist_ok=True)
        body = ("  runtime: slurm-tenant\n  model: sonnet\n  slurm:\n    reservation: pool\n" if i % 2 else
                f"  runtime: slurm\n  model: opus\n  env:\n    INDEX: '{i}'\n  slurm:\n    cpus_per_task: {i % 4 + 1}\n")
        (d / f"a{i:03d}.yaml").write_text(f"apiVersion: scitex-agent-container/v3\nkind: Agent\nspec:\n{body}")


def test_parallel_build_writes_the_same_tree_byte_for_byte(tmp_path):
    _many_specs(tmp_path / "src")
    trees = []
    for jobs in ("1", "2", "3"):
        out = tmp_path / f"out{jobs}"
        r = run_cli("sacgen", "build", "examples", str(tmp_path / "src"), "-j", jobs, "-o", str(out))
        assert r.returncode == 0, r.stderr
        assert r.stdout.startswith(f"wrote {len(render_tree(load_specs(['examples', str(tmp_path / 'src')])))} files for ")
        trees.append(_tree(out))
    assert trees[0] == trees[1] == trees[2]
    # and the same as the in-memory render (what --check compares against)
    files = render_tree(load_specs(["examples", str(tmp_path / "src")]))
    assert {rel: v for rel, v in trees[0].items() if v[0] is not None} == \
        {rel: (text.encode(), mode) for rel, (text, mode) in files.items()}
    assert {rel: mode for rel, (data, mode) in trees[0].items() if data is None} == \
        {rel.split("/")[0]: 0o755 for rel in files if "/" in rel}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out1", "out2", "out3", "src"]


def test_parallel_build_reports_what_a_serial_one_does(tmp_path):
    _many_specs(tmp_path / "src", 12)
    twin = tmp_path / "src" / "set2" / "a000.yaml"  # a000 again, in another folder
    twin.write_text((tmp_path / "src" / "set0" / "a000.yaml").read_text())
    clash = tmp_path / "src" / "set1" / "a001.yaml"
    (tmp_path / "res").mkdir()
    (tmp_path / "res" / "a001.yaml").write_text(  # a reservation named like an agent
        "apiVersion: scitex-agent-container/v3\nkind: Reservation\nspec:\n  host: spartan\n")
    runs = {}
    for case, paths in {"invalid": ["tests/fixtures/invalid", str(tmp_path / "src")],
                        "clash": [str(tmp_path / "res"), str(clash)]}.items():
        for jobs in ("1", "3"):
            out = tmp_path / f"{case}-{jobs}"
            r = run_cli("sacgen", "build", *paths, "-j", jobs, "-o", str(out))
            assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
            assert not out.exists()
            runs[case, jobs] = r.stderr
        assert runs[case, "1"] == runs[case, "3"]
    assert f"agent name 'a000' is also defined in {tmp_path}/src/set0/a000.yaml" in runs["invalid", "1"]
    assert runs["invalid", "1"].count("\n") > 60
    assert "would overwrite a001/attach.sh" in runs["clash", "1"]
    with pytest.raises(Exception) as e:
        render_tree(load_specs([str(tmp_path / "res"), str(clash)]))
    assert e.value.message in runs["clash", "1"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["res", "src"], "no temporary folders left behind"


@pytest.mark.parametrize("jobs", ["0", "-1", "two", ""])
def test_jobs_must_be_a_positive_number(jobs, tmp_path):
    r = run_cli("sacgen", "build", "examples", "-j", jobs, "-o", str(tmp_path / "out"))
    assert r.returncode == 2 and "--jobs" in r.stderr and "Traceback" not in r.stderr
