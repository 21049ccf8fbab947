"""GPUs, node features and further sbatch options: the fields, the checks of
extra_directives against sbatch's option parsing, the #SBATCH lines they
become, the `book` flags and what `sac agent migrate` checks."""

from __future__ import annotations

import json

import pytest

from sacgen.compile import render, sbatch
from sacgen.compile.check import check_data
from sacgen.compile.model import agent_from_data, reservation_from_data
from sacgen.run.migrate import fit_problems, gres_counts

from .test_templates import sbatch_arguments


def agent(**slurm):
    data = {"apiVersion": "scitex-agent-container/v3", "kind": "Agent",
            "spec": {"runtime": "slurm", "model": "opus", "slurm": {"host": "spartan", **slurm}}}
    kind, problems = check_data(data, "gpu-agent", "(test)")
    assert kind == "Agent"
    return data, problems


def sbatch_words(text: str) -> list[str]:
    """Every word sbatch reads from the #SBATCH lines of a script (they end at
    the first line that is not a comment)."""
    out = []
    for line in text.splitlines()[1:]:
        if not line.startswith("#"):
            break
        if line.startswith("#SBATCH"):
            out += sbatch_arguments(line)
    return out


# --- which option words are refused ---------------------------------------------

OWNED = sorted(o for o in sbatch.OPTIONS if sbatch._owner(o, "Agent"))


@pytest.mark.parametrize("option", OWNED)
def test_every_spelling_getopt_takes_for_an_owned_option_is_refused(option):
    """The option in full, and each prefix of it that is not itself another
    option sac leaves to the user (getopt_long takes a unique prefix as the
    option, and a prefix of several is an error)."""
    for n in range(1, len(option) + 1):
        prefix = option[:n]
        if prefix in sbatch.OPTIONS and not sbatch._owner(prefix, "Agent"):
            continue
        for word in (f"--{prefix}=x", f"--{prefix}"):
            assert sbatch.problem(word) is not None, word


def test_what_getopt_resolves_matches_sbatch():
    assert sbatch.resolve("dep") == ("prefix", ["dependency"])
    assert sbatch.resolve("mem") == ("exact", ["mem"])
    assert sbatch.resolve("gre")[0] == "ambiguous"
    assert sbatch.resolve("no-such-option") == ("unknown", [])
    assert len(sbatch.OPTIONS) == 106


@pytest.mark.parametrize("word, message", [
    ("--job-name=x", "--job-name is not for extra_directives: sac names the job"),
    ("--J=x", None),  # not an sbatch 22.05 option: a newer sbatch may know it
    ("--dep=afterok:1", "--dep is an abbreviation of --dependency, which is not for extra_directives"),
    ("--ou=x", "--ou is an abbreviation of --output"),
    ("--e=x", "--e abbreviates --error or --exclude or --exclusive or --export or --export-file"),
    ("--gres=gpu:1", "--gres is not for extra_directives: set it with the field spec.slurm.gres"),
    ("--nodefile=x", "--nodefile is not for extra_directives: set it with the field spec.slurm.nodelist"),
    ("--comment", "--comment takes a value: write it as one word, --comment=VALUE"),
    ("--comm", "--comm (--comment) takes a value: write it as one word, --comm=VALUE"),
    ("--hold=1", "--hold takes no value: write --hold"),
    ("--gpu-=x", "--gpu- is ambiguous for sbatch (--gpu-bind, --gpu-freq); write the option in full"),
    ("--hold", None), ("--comment=", None), ("--mem-per-cpu=1G", None), ("--time-min=10", None),
    ("--gres-flags=enforce-binding", None), ("--cluster=c", None), ("--nice", None), ("--nice=5", None),
    ("--wait-all-nodes=1", None), ("--tres-per-task=gres:gpu:1", None),
])
def test_extra_directive_problems(word, message):
    got = sbatch.problem(word)
    assert (got is None) if message is None else (got is not None and got.startswith(message)), got


def test_a_reservation_is_told_its_own_field_names():
    assert sbatch.problem("--cpus-per-task=2", "Reservation").endswith("set it with the field spec.cpus")
    assert sbatch.problem("--time=10", "Reservation").endswith("set it with the field spec.time")
    assert sbatch.problem("--cpus-per-task=2").endswith("set it with the field spec.slurm.cpus_per_task")


@pytest.mark.parametrize("field, value", [
    ("gres", "gpu:-1"), ("gres", "gpu:0"), ("gres", "gpu:a100:0"), ("gres", ""), ("gres", "gpu:1,"),
    ("gpus", 0), ("gpus", "a100:0"), ("gpus", "-1"), ("gpus", True),
    ("mail_type", "SOMETIMES"), ("mail_type", "end"), ("mail_type", "END,"),
    ("mail_user", "-x"), ("mail_user", "a b"), ("nodelist", "./hosts"), ("nodelist", "-n1"),
    ("exclude", "n1 n2"), ("constraint", "-x"), ("constraint", "a b"), ("exclusive", "yes"),
    ("extra_directives", ["-J"]), ("extra_directives", ["--"]), ("extra_directives", ["comment=x"]),
    ("extra_directives", ["--a b"]), ("extra_directives", ["--comment=a\nb"]), ("extra_directives", "--hold"),
])
def test_bad_values_are_refused_with_the_fields_path(field, value):
    _, problems = agent(**{field: value})
    assert problems and problems[0].field.startswith(f"spec.slurm.{field}"), problems


@pytest.mark.parametrize("fields", [
    {"gres": "gpu:1"}, {"gres": "gpu:a100:2,mps:100"}, {"gres": "gpu:1g.5gb:1"}, {"gres": "gpu"},
    {"gpus": 1}, {"gpus": "a100:2"}, {"constraint": "fast"}, {"constraint": "[rack1|rack2]&a100*2"},
    {"nodelist": "n[1-2],gpu05"}, {"exclude": "n2"}, {"exclusive": True}, {"exclusive": False},
    {"mail_type": "BEGIN,END,TIME_LIMIT_90"}, {"mail_user": "alice@example.org"},
    {"extra_directives": ["--comment=it's \"x\" #1 \\ $(id)", "--hold", "--nice", "--qos-x=1"]},
])
def test_good_values_pass(fields):
    assert agent(**fields)[1] == []


def test_tenants_may_not_set_resources():
    data = {"apiVersion": "scitex-agent-container/v3", "kind": "Agent",
            "spec": {"runtime": "slurm-tenant", "model": "opus",
                     "slurm": {"reservation": "pool", "gpus": 1, "extra_directives": ["--comment=x"]}}}
    _, problems = check_data(data, "t", "(test)")
    assert [p.field for p in problems] == ["spec.slurm.gpus", "spec.slurm.extra_directives"]
    assert all("the reservation owns the job's resources" in p.message for p in problems)


# --- what the job scripts say ---------------------------------------------------

HOSTILE = "it's \"lab\" #1 \\ $(id) `id` ;  two  spaces ✓"


def test_job_sbatch_carries_every_field_and_extra_directive_as_written():
    data, problems = agent(gpus="a100:2", gres="gpu:a100:2,mps:100", constraint="fast&[r1|r2]", nodelist="n[1-2]",
                           exclude="n3", exclusive=True, mail_type="END,FAIL", mail_user="alice@example.org",
                           extra_directives=[f"--comment={HOSTILE}", "--hold", "--comment=", "--x-new=a b"])
    assert problems == []
    spec = agent_from_data("gpu-agent", "gpu-agent.yaml", data)
    text = render.render_sbatch_wrapper(spec)
    words = sbatch_words(text)
    assert words[words.index("--gpus=a100:2"):] == [
        "--gpus=a100:2", "--gres=gpu:a100:2,mps:100", "--constraint=fast&[r1|r2]", "--nodelist=n[1-2]",
        "--exclude=n3", "--exclusive", "--mail-type=END,FAIL", "--mail-user=alice@example.org",
        "--signal=B:USR1@3600", "--open-mode=append", "--requeue",
        f"--comment={HOSTILE}", "--hold", "--comment=", "--x-new=a b"]
    # The login shell's SBATCH_* settings do not override them (the start and the trap drop them).
    (line,) = [ln for ln in text.splitlines() if ln.startswith("sac_sbatch_env()")]
    for env in ("SBATCH_GPUS", "SBATCH_GRES", "SBATCH_CONSTRAINT", "SBATCH_EXCLUSIVE"):
        assert f" {env}" in line


def test_nothing_changes_without_the_fields():
    data, _ = agent()
    text = render.render_sbatch_wrapper(agent_from_data("gpu-agent", "gpu-agent.yaml", data))
    assert not any(w.startswith(("--gpus", "--gres", "--constraint", "--mail", "--exclusive", "--comment"))
                   for w in sbatch_words(text))


def test_reservation_sbatch_carries_them_too():
    spec = reservation_from_data("gpu-pool", "(test)", {"spec": {
        "host": "h", "gres": "gpu:1", "constraint": "slow", "exclusive": True,
        "extra_directives": [f"--comment={HOSTILE}"]}})
    words = sbatch_words(render.render_reservation_sbatch(spec))
    for w in ("--gres=gpu:1", "--constraint=slow", "--exclusive", f"--comment={HOSTILE}"):
        assert w in words


def test_the_environment_of_extra_directives_is_dropped_too():
    spec = agent_from_data("a", "a.yaml", agent(extra_directives=["--reservation=r", "--gres-flags=x",
                                                                  "--comment=c"])[0])
    assert sbatch.overridden_env(spec) == ("SBATCH_RESERVATION", "SBATCH_GRES_FLAGS")


# --- book flags -----------------------------------------------------------------

def test_book_flags_build_the_same_spec_as_a_file(tmp_path, monkeypatch):
    from sacgen.run import reservations

    spec = reservations.reservation_spec("gpu-pool", {
        "host": "h", "gpus": "1", "gres": "gpu:1", "constraint": "fast", "nodelist": "n1", "exclude": "n2",
        "exclusive": True, "mail_type": "END", "mail_user": "alice", "extra_directives": ["--comment=a b"]})
    assert (spec.gpus, spec.gres, spec.exclusive, spec.extra_directives) == ("1", "gpu:1", True, ("--comment=a b",))
    with pytest.raises(Exception) as e:
        reservations.reservation_spec("gpu-pool", {"host": "h", "extra_directives": ["--comment=x", "--dep=x"]})
    assert str(e.value).startswith("--extra: --dep is an abbreviation of --dependency")
    with pytest.raises(Exception) as e:
        reservations.reservation_spec("gpu-pool", {"host": "h", "gres": "gpu:-1"})
    assert str(e.value).startswith("--gres: must be a GRES list")


def test_book_help_lists_the_resource_flags(capsys):
    from sacgen.cli.parsers import sac_parser

    with pytest.raises(SystemExit):
        sac_parser().parse_args(["reservations", "book", "--help"])
    text = capsys.readouterr().out
    for flag in ("--gpus", "--gres", "--constraint", "--nodelist", "--exclude", "--exclusive", "--mail-type",
                 "--mail-user", "--extra"):
        assert flag in text


# --- sac agent migrate ------------------------------------------------------------

@pytest.mark.parametrize("text, want", [
    ("gpu:1", {("gpu", None): 1}), ("gpu:a100:2", {("gpu", "a100"): 2}), ("gpu", {("gpu", None): 1}),
    ("gpu:a100", {("gpu", "a100"): 1}), ("gpu:1g.5gb:3", {("gpu", "1g.5gb"): 3}),
    ("gpu:1,mps:100K", {("gpu", None): 1, ("mps", None): 102400}),
])
def test_gres_counts(text, want):
    assert gres_counts(text) == want


@pytest.mark.parametrize("needs, pool, problem", [
    ({"gres": "gpu:1"}, {}, "needs 1 gpu (GRES), the reservation has none"),
    ({"gres": "gpu:2"}, {"gres": "gpu:1"}, "needs 2 gpu (GRES), the reservation has gpu:1"),
    ({"gpus": "a100:1"}, {"gres": "gpu:v100:4"}, "needs 1 gpu of type a100 (GRES), the reservation has gpu:v100:4"),
    ({"gpus": 1}, {"gpus": "a100:2"}, None),
    ({"gres": "gpu:1"}, {"gpus": "1"}, None),
    ({"constraint": "fast"}, {}, "needs nodes with constraint fast, the reservation's are not constrained"),
    ({"constraint": "fast"}, {"constraint": "slow"}, "needs nodes with constraint fast, the reservation's are slow"),
    ({"constraint": "fast"}, {"constraint": "fast"}, None),
    ({}, {"gres": "gpu:1", "constraint": "fast"}, None),
])
def test_migrate_checks_gpus_and_constraints_against_the_reservation(needs, pool, problem):
    data, problems = agent(**needs)
    assert problems == []
    spec = agent_from_data("a", "a.yaml", data)
    got = fit_problems(spec, {"spec": json.loads(json.dumps(pool))})
    assert got == ([problem] if problem else [])
