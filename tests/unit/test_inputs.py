"""Input that passed validation but did not do what it said, or that sacgen did
not take the way the interface promises: bash's own variables in spec.env,
values YAML 1.1 rewrites, names that collide on the cluster, files that are not
files, folders without YAML, and build output folders."""

import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sacgen.compile.build import render_tree
from sacgen.compile.check import BASH_OWN_ENV, READONLY_ENV
from sacgen.compile.specs import load_specs
from sacgen.errors import SpecError

from .conftest import run_cli

HEAD = "apiVersion: scitex-agent-container/v3\nkind: Agent\n"


def agent_yaml(tmp_path, body: str, stem: str = "a"):
    path = tmp_path / f"{stem}.yaml"
    path.write_text(HEAD + "spec:\n  runtime: slurm\n  model: opus\n" + body)
    return path


def problems(path) -> list[str]:
    with pytest.raises(SpecError) as e:
        load_specs([str(path)])
    return [str(p) for p in e.value.problems]


# ----------------------------------------------------------------------------- bash's own variables

BASH = shutil.which("bash")
ENV = shutil.which("env")
# What the brief of the check names; each must be refused.
NAMED = ("BASH_ARGC BASH_ARGV BASH_COMMAND BASH_LINENO BASH_REMATCH BASH_SOURCE BASH_SUBSHELL BASHOPTS "
         "BASHPID DIRSTACK EPOCHREALTIME EPOCHSECONDS EUID FUNCNAME GROUPS HISTCMD LINENO PIPESTATUS PPID "
         "RANDOM SECONDS SHELLOPTS SRANDOM UID").split()
REFUSED = set(READONLY_ENV) | set(BASH_OWN_ENV)
# Variables bash treats specially that are allowed all the same (see sacgen/schema.py).
ALLOWED_SPECIAL = {"IFS", "PWD", "PS4"}


def _bash_version() -> str:
    if BASH is None or ENV is None:
        return ""
    return subprocess.run([BASH, "-c", 'printf %s.%s "${BASH_VERSINFO[0]}" "${BASH_VERSINFO[1]}"'],
                          capture_output=True, text=True).stdout


# The list was made with bash 5.2; other versions add or lack dynamic variables.
needs_bash_5_2 = pytest.mark.skipif(_bash_version() != "5.2", reason="the list is bash 5.2's")


def _run(argv) -> str:
    return subprocess.run(argv, capture_output=True, text=True, env={"PATH": "/usr/bin:/bin"},
                          cwd="/").stdout


def bash_keeps_it(name: str) -> str | None:
    """Why a value NAME=x never reaches the agent (or a bash it runs) as written,
    or None when it does."""
    if f"{name}=x" not in _run([BASH, "-c", f"({name}=x exec -- {ENV})"]).split("\n"):
        return "session.sh's `(NAME=x exec -- agent)` drops it"
    if _run([ENV, f"{name}=x", BASH, "-c", f'printf %s "${{{name}-unset}}"']) != "x":
        return "a bash started with it sets its own value"
    probe = ('false | true; s="${PIPESTATUS[*]}"; pushd /tmp >/dev/null; [[ ab =~ a ]]; '
             f'printf "%s|%s|%s|%s" "$s" "${{DIRSTACK[0]}}" "${{BASH_REMATCH[0]}}" "${{{name}-unset}}"')
    got = _run([ENV, f"{name}=x", BASH, "-c", probe]).split("|")
    if got[3:] != ["x"]:
        return "bash overwrites it as it runs"
    if got[:3] != ["1 0", "/tmp", "a"]:
        return "it takes the place of bash's own state"
    return None


@pytest.mark.parametrize("name", sorted(REFUSED | set(NAMED)))
def test_bash_own_variable_in_env_is_refused_naming_it(name, tmp_path):
    path = agent_yaml(tmp_path, f"  env:\n    OK: one\n    {name}: x\n")
    (line,) = problems(path)
    assert line.startswith(f"{path}:8: spec.env.{name}: "), line
    assert "bash" in line and ("read-only" in line or "would not reach the agent" in line), line


@needs_bash_5_2
def test_every_refused_variable_is_one_bash_keeps_and_no_other_is():
    """The experiment, with the real bash: each refused name fails to reach a
    bash-run agent as written, and every variable of a clean bash that fails is
    refused (but the few allowed on purpose)."""
    names = set(_run([BASH, "-c", "compgen -v"]).split()) | REFUSED | set(NAMED) | {"MY_SETTING"}
    wrong = {}
    for name in sorted(names):
        why = bash_keeps_it(name)
        if (why is not None) != (name in REFUSED) and name not in ALLOWED_SPECIAL:
            wrong[name] = why or "reaches the agent, yet is refused"
    assert wrong == {}
    assert set(NAMED) <= REFUSED


def test_an_ordinary_variable_and_ifs_are_still_accepted(tmp_path):
    (spec,) = load_specs([str(agent_yaml(tmp_path, "  env:\n    MY_GROUPS: a\n    IFS: ':'\n"))])
    assert spec.env == (("MY_GROUPS", "a"), ("IFS", ":"))


# ----------------------------------------------------------------------------- text as written

YAML11 = ["0022", "0x1F", "0o17", "0b101", "1_000", "+5", "-0", "1e3", "1.0e+3", ".5", "1.", ".inf", "-.Inf",
          ".nan", "yes", "no", "on", "off", "y", "n", "true", "False", "2024-01-01", "2024-01-01T10:00:00Z"]


@pytest.mark.parametrize("text", YAML11)
def test_an_unquoted_env_value_reaches_the_agent_as_written(text, tmp_path):
    (spec,) = load_specs([str(agent_yaml(tmp_path, f"  env:\n    V: {text}\n    PORT: 8080\n"))])
    assert spec.env == (("V", text), ("PORT", "8080"))
    session = render_tree([spec])["a/session.sh"][0]
    assert f"  V={shlex.quote(text)} \\\n" in session


def test_umask_and_hex_env_values_reach_a_real_agent_byte_for_byte(tmp_path):
    """The reviewers' case, end to end: session.sh run by bash hands the agent
    UMASKV=0022 and HEXV=0x1F, not 18 and 31."""
    rec = tmp_path / "env.out"
    stub = tmp_path / "agent"
    stub.write_text(f"#!/bin/sh\nenv >'{rec}'\n")
    stub.chmod(0o755)
    path = agent_yaml(tmp_path, f"  claude: {{command: {stub}}}\n  env:\n    UMASKV: 0022\n    HEXV: 0x1F\n"
                                f"    ON: on\n    HALF: .5\n")
    (spec,) = load_specs([str(path)])
    session = render_tree([spec])["a/session.sh"][0]
    # The agent's command line and the subshell that execs it, as the session runs them.
    agent = session[session.index("agent=("):].split("\n", 1)[0]
    start = session[session.index("  (\n    trap - INT"):session.index("  sac_child=$!")]
    start = start.replace(") 0<&0 &", ")")  # here, in the foreground: the test waits for it
    body = f"{agent}\nsac_pidfile=/dev/null sac_flags=()\n{start}"
    subprocess.run([BASH, "-c", body], check=True, env={"PATH": "/usr/bin:/bin"}, cwd=tmp_path)
    got = set(rec.read_text().splitlines())
    assert {"UMASKV=0022", "HEXV=0x1F", "ON=on", "HALF=.5"} <= got


def test_other_text_fields_keep_the_text_as_written(tmp_path):
    path = agent_yaml(tmp_path, "  claude:\n    flags: [--max-turns, 010, yes, 0x1F, 1.5, 2024-01-01]\n"
                                "  slurm:\n    time_limit: 0100\n    mem: 4000\n    partition: 1e3\n",)
    path.write_text(path.read_text().replace("model: opus", "model: 1.5"))
    (spec,) = load_specs([str(path)])
    assert spec.flags == ("--max-turns", "010", "yes", "0x1F", "1.5", "2024-01-01")
    assert (spec.model, spec.time_limit, spec.mem, spec.partition) == ("1.5", "0100", "4000", "1e3")
    assert "#SBATCH --time=0100" in render_tree([spec])["a/job.sbatch"][0]


def test_a_plain_decimal_number_stays_a_number_where_one_is_allowed(tmp_path):
    path = agent_yaml(tmp_path, "  slurm:\n    time_limit: 90\n    cpus_per_task: 8\n    resubmit_before: 600\n")
    (spec,) = load_specs([str(path)])
    assert (spec.time_limit, spec.cpus_per_task, spec.resubmit_before) == ("90", 8, 600)


def test_a_merge_key_and_an_alias_keep_the_text_and_the_override(tmp_path):
    path = agent_yaml(tmp_path, "  env:\n    <<: {A: 0022, B: 1}\n    B: 0x1F\n    C: &c 0x10\n"
                                "  claude:\n    flags: [*c]\n")
    (spec,) = load_specs([str(path)])
    assert spec.env == (("A", "0022"), ("B", "0x1F"), ("C", "0x10"))
    assert spec.flags == ("0x10",)


@pytest.mark.parametrize("text", ["010", "0x10", "1_0", "4.0", "+4"])
def test_an_integer_field_refuses_a_number_yaml_would_rewrite(text, tmp_path):
    (line,) = problems(agent_yaml(tmp_path, f"  slurm:\n    cpus_per_task: {text}\n"))
    assert line.endswith(f"spec.slurm.cpus_per_task: must be a whole number in plain decimal digits, "
                         f"without leading zeros, _, a base prefix or a fraction (got \"{text}\")"), line


def test_an_empty_env_value_is_refused_with_the_way_to_write_it(tmp_path):
    (line,) = problems(agent_yaml(tmp_path, "  env:\n    EMPTY:\n"))
    assert line.endswith('spec.env.EMPTY: must be text (write "" for an empty value) (got null)'), line
    (spec,) = load_specs([str(agent_yaml(tmp_path, '  env:\n    EMPTY: ""\n'))])
    assert spec.env == (("EMPTY", ""),)


def test_env_keys_yaml_would_read_as_booleans_or_null_are_names(tmp_path):
    (spec,) = load_specs([str(agent_yaml(tmp_path, "  env:\n    ON: 1\n    NO: x\n    NULL: y\n    Off: z\n"))])
    assert spec.env == (("ON", "1"), ("NO", "x"), ("NULL", "y"), ("Off", "z"))
    (line,) = problems(agent_yaml(tmp_path, "  yes: 1\n"))
    assert line.endswith("spec.yes: unknown field 'yes'; allowed: claude, env, model, restart, runtime, slurm, workdir"), line


# ----------------------------------------------------------------------------- shared name spaces

def test_an_agent_named_res_something_is_refused_with_the_reason(tmp_path):
    (line,) = problems(agent_yaml(tmp_path, "", stem="res-x"))
    assert line == (f"{tmp_path}/res-x.yaml:1: (document): an agent's name may not start with 'res-': agent "
                    "'res-x' would have the SLURM job name sac-res-x, which is the job of reservation 'x' "
                    "(sac agent status and stop would act on that reservation's job)"), line
    for stem in ("resx", "re-x", "x-res-y", "results"):
        assert load_specs([str(agent_yaml(tmp_path, "", stem=stem))])[0].name == stem


def test_a_reservation_may_be_named_res_something(tmp_path):
    path = tmp_path / "res-x.yaml"
    path.write_text("apiVersion: scitex-agent-container/v3\nkind: Reservation\nspec: {host: h}\n")
    assert load_specs([str(path)])[0].name == "res-x"


def test_a_tmux_server_named_like_an_agents_is_refused_with_the_reason(tmp_path):
    path = tmp_path / "pool.yaml"
    path.write_text("apiVersion: scitex-agent-container/v3\nkind: Reservation\nspec:\n  host: h\n"
                    "  tmux_server: sac-dev\n")
    (line,) = problems(path)
    assert line == (f"{path}:5: spec.tmux_server: may not start with 'sac-': tmux server 'sac-dev' is the one "
                    "runtime-slurm agent 'dev' runs in (their servers are sac-<name>)"), line
    for ok in ("sac", "sacdev", "my-sac-dev", "SAC-dev"):
        path.write_text(path.read_text().rsplit("tmux_server:", 1)[0] + f"tmux_server: {ok}\n")
        assert load_specs([str(path)])[0].tmux_server == ok


def test_booking_with_such_a_tmux_server_is_refused_too():
    from sacgen.errors import UsageError
    from sacgen.run.reservations import reservation_spec

    with pytest.raises(UsageError) as e:
        reservation_spec("pool", {"host": "h", "tmux_server": "sac-dev"})
    assert e.value.message.startswith("--tmux-server: may not start with 'sac-'"), e.value.message


# ----------------------------------------------------------------------------- what is read

@pytest.mark.parametrize("device", ["/dev/zero", "/dev/null"])
def test_a_device_is_refused_at_once(device):
    r = run_cli("sacgen", "validate", device, timeout=20)
    assert (r.returncode, r.stdout) == (2, "")
    assert r.stderr == f"{device}:1: (document): not a regular file (a character device); expected a YAML file\n"


def test_a_fifo_is_refused_without_waiting_for_a_writer(tmp_path):
    fifo = tmp_path / "pipe.yaml"
    os.mkfifo(fifo)
    r = run_cli("sacgen", "validate", str(fifo), timeout=20)
    assert (r.returncode, r.stdout) == (2, "")
    assert r.stderr == f"{fifo}:1: (document): not a regular file (a FIFO); expected a YAML file\n"
    # A folder walk reports it too (never skips a *.yaml in silence), and
    # still reads the rest.
    agent_yaml(tmp_path, "")
    r = run_cli("sacgen", "validate", str(tmp_path), timeout=20)
    assert (r.returncode, r.stderr) == (2, f"{fifo}:1: (document): not a regular file (a FIFO); expected a YAML file\n")


def test_a_huge_file_is_refused_without_reading_it(tmp_path):
    big = tmp_path / "big.yaml"
    with open(big, "wb") as f:
        f.truncate(8 << 30)  # sparse: 8 GiB that no one could read into memory in time
    r = run_cli("sacgen", "validate", str(big), timeout=20)
    assert r.returncode == 2
    assert r.stderr == f"{big}:1: (document): file is {8 << 30} bytes; an agent YAML may be at most 262144\n"


def test_read_input_stops_one_byte_past_the_limit(tmp_path, monkeypatch):
    """A file that says it is small but keeps growing (here: reads that never
    end) is read no further than MAX_BYTES + 1."""
    from sacgen.compile import source as spec_module

    path = agent_yaml(tmp_path, "")
    reads = []

    def endless(fd, n):
        reads.append(n)
        return b"#" * min(n, 4096)

    monkeypatch.setattr(os, "read", endless)
    raw, errs = spec_module.read_input(path, "x.yaml")
    assert raw is None and [str(p) for p in errs] == [
        "x.yaml:1: (document): file is more than 262144 bytes; an agent YAML may be at most 262144"]
    assert sum(min(n, 4096) for n in reads) == 262145


def test_sac_refuses_a_fifo_too(tmp_path):
    """sac reads a YAML through its cache of validated specs, with the same reader."""
    fifo = tmp_path / "pipe.yaml"
    os.mkfifo(fifo)
    r = run_cli("sac", "agent", "start", str(fifo), "--dry-run", env={"SAC_HOME": str(tmp_path / "home")},
                timeout=20)
    assert (r.returncode, r.stdout) == (2, "")
    assert r.stderr == f"{fifo}:1: (document): not a regular file (a FIFO); expected a YAML file\n"


# ----------------------------------------------------------------------------- folders without YAML

def test_a_folder_without_yaml_is_an_error(tmp_path):
    empty = tmp_path / "empty"
    (empty / "sub").mkdir(parents=True)
    (empty / "notes.txt").write_text("x")
    r = run_cli("sacgen", "validate", str(empty), str(tmp_path / "nope"))
    assert (r.returncode, r.stdout) == (2, "")
    assert r.stderr == f"{empty}: no .yaml or .yml files\n{tmp_path / 'nope'}: no such file or directory\n"


def test_a_yaml_in_a_folder_that_is_a_dangling_link_or_a_device_is_reported_not_skipped(tmp_path):
    folder = tmp_path / "agents"
    folder.mkdir()
    shutil.copy("examples/head-spartan/head-spartan.yaml", folder)
    (folder / "gone.yaml").symlink_to(tmp_path / "nowhere.yaml")
    (folder / "zero.yml").symlink_to("/dev/zero")
    r = run_cli("sacgen", "validate", str(folder))
    assert (r.returncode, r.stdout) == (2, "")
    assert r.stderr.splitlines() == [f"{folder / 'gone.yaml'}:1: (document): cannot read file: No such file or directory",
                                     f"{folder / 'zero.yml'}:1: (document): not a regular file (a character device); "
                                     "expected a YAML file"]


def test_building_a_folder_without_yaml_leaves_out_as_it_was(tmp_path):
    out = tmp_path / "out"
    assert run_cli("sacgen", "build", "examples", "-o", str(out)).returncode == 0
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    (tmp_path / "empty").mkdir()
    r = run_cli("sacgen", "build", str(tmp_path / "empty"), "-o", str(out))
    assert (r.returncode, r.stdout, r.stderr) == (2, "", f"{tmp_path / 'empty'}: no .yaml or .yml files\n")
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty", "out"]


# ----------------------------------------------------------------------------- --check

def test_check_reports_a_stray_binary_file_as_drift_without_a_traceback(tmp_path):
    golden = tmp_path / "golden"
    assert run_cli("sacgen", "build", "examples", "-o", str(golden)).returncode == 0
    (golden / "stray.bin").write_bytes(b"\xff\xfe\x00")  # a .DS_Store, say
    (golden / "dev-helper" / "start.sh").write_bytes(b"\xff\n")
    r = run_cli("sacgen", "build", "examples", "--check", str(golden))
    assert r.returncode == 1, r.stderr
    assert "Traceback" not in r.stderr
    assert r.stdout == (f"{golden}/dev-helper/start.sh: not UTF-8 text, differs from the build\n"
                        "stray.bin: only in golden\n".replace("golden\n", f"{golden}\n"))
    assert r.stderr == f"sacgen: {golden} differs from the build (to write it again: sacgen build examples -o {golden})\n"


def test_check_diffs_a_file_without_a_last_newline_line_by_line(tmp_path):
    from sacgen.compile.build import check_tree

    golden = tmp_path / "golden"
    golden.mkdir()
    (golden / "a").write_text("one\ntwo")
    (golden / "manifest.json").write_text("m\n")
    diff = check_tree({"a": ("one\ntwo\n", 0o644), "manifest.json": ("m\n", 0o644)}, golden)
    assert diff.endswith("\n-two\n\\ No newline at end of file\n+two\n"), diff


# ----------------------------------------------------------------------------- the output folder

def many_specs(folder: Path, n: int) -> Path:
    folder.mkdir()
    for i in range(n):
        (folder / f"a{i}.yaml").write_text(HEAD + "spec:\n  runtime: slurm\n  model: opus\n")
    return folder


def beside(out: Path) -> list[str]:
    """The build's own folders next to OUT."""
    return sorted(p.name for p in out.parent.iterdir() if p.name.startswith(f".{out.name}."))


@pytest.mark.parametrize("sig,jobs", [(signal.SIGTERM, 1), (signal.SIGTERM, 4), (signal.SIGHUP, 4)])
def test_a_build_ended_by_sigterm_or_sighup_removes_its_temporary_folder(sig, jobs, tmp_path):
    specs = many_specs(tmp_path / "specs", 3000)
    out = tmp_path / "out"
    assert run_cli("sacgen", "build", "examples", "-o", str(out)).returncode == 0
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    p = subprocess.Popen([sys.executable, "-c", "from sacgen.cli.sacgen import console; console()", "build",
                          str(specs), "-o", str(out), "-j", str(jobs)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 30
    while not beside(out) and p.poll() is None and time.monotonic() < deadline:
        time.sleep(0.001)
    p.send_signal(sig)
    stdout, stderr = p.communicate(timeout=60)
    assert (p.returncode, stdout, stderr) == (128 + sig, "", "")
    assert beside(out) == []
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before


def dead_pid() -> int:
    p = subprocess.Popen(["true"])
    p.wait()
    return p.pid


def test_a_build_removes_what_killed_builds_left_and_only_that(tmp_path):
    out = tmp_path / "out"
    dead, live = dead_pid(), os.getpid()  # this test's process outlives the build
    for name in (f".out.tmp-{dead}-abc", f".out.old-{dead}", f".out.tmp-{live}-def", f".out.old-{live}",
                 f".other.tmp-{dead}-ghi", f".out.tmp-{dead}"):
        (tmp_path / name / "sub").mkdir(parents=True)
        (tmp_path / name / "sub" / "big").write_bytes(b"x" * 1000)
    assert run_cli("sacgen", "build", "examples", "-o", str(out)).returncode == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["out", f".out.tmp-{live}-def", f".out.old-{live}", f".other.tmp-{dead}-ghi", f".out.tmp-{dead}"])


def test_a_build_into_a_symlink_writes_where_it_points_and_keeps_the_link(tmp_path):
    (tmp_path / "links").mkdir()
    (tmp_path / "real").mkdir()
    link = tmp_path / "links" / "out"
    link.symlink_to("../real/out")
    for _ in range(2):  # the first build makes real/out, the second replaces it
        r = run_cli("sacgen", "build", "examples", "-o", str(link))
        assert (r.returncode, r.stderr) == (0, "")
        assert link.is_symlink() and os.readlink(link) == "../real/out"
        assert (tmp_path / "real" / "out" / "manifest.json").is_file()
        assert sorted(p.name for p in (tmp_path / "real").iterdir()) == ["out"]
        assert sorted(p.name for p in (tmp_path / "links").iterdir()) == ["out"]


# ----------------------------------------------------------------------------- one line per problem

def test_an_empty_spec_gives_one_line_per_missing_field(tmp_path):
    path = tmp_path / "x.yaml"
    path.write_text(HEAD + "spec: {}\n")
    r = run_cli("sacgen", "validate", str(path))
    assert r.returncode == 2
    assert r.stderr == (f"{path}:3: spec.runtime: required field is missing\n"
                        f"{path}:3: spec.model: required field is missing\n")


def test_an_empty_string_is_one_problem_not_two(tmp_path):
    path = agent_yaml(tmp_path, '  workdir: ""\n  claude: {command: ""}\n  slurm: {host: "", partition: "",'
                                ' account: "", qos: "", hooks: {pre_agent: ""}}\n')
    path.write_text(path.read_text().replace("model: opus", 'model: ""'))
    got = problems(path)
    fields = [line.split(": ")[1] for line in got]
    assert sorted(fields) == sorted(["spec.model", "spec.workdir", "spec.claude.command", "spec.slurm.host",
                                     "spec.slurm.partition", "spec.slurm.account", "spec.slurm.qos",
                                     "spec.slurm.hooks.pre_agent"]), got
    assert all(line.endswith(": must not be empty") for line in got), got
    res = tmp_path / "pool.yaml"
    res.write_text('apiVersion: scitex-agent-container/v3\nkind: Reservation\nspec: {host: h, tmux_server: ""}\n')
    assert problems(res) == [f"{res}:3: spec.tmux_server: must not be empty"]


# ----------------------------------------------------------------------------- every problem at once

def test_schema_problems_and_the_checks_beyond_come_together(tmp_path):
    path = tmp_path / "res-pool.yaml"
    path.write_text(HEAD + "spec:\n  runtime: slurm\n  model: opus\n  bogus: 1\n  env: {GROUPS: x}\n"
                           "  slurm:\n    cpus_per_task: 0\n    time_limit: \"30\"\n    reservation: x\n")
    r = run_cli("sacgen", "validate", str(path), "examples/every-field/every-field.yaml")
    assert (r.returncode, r.stdout) == (2, "")
    assert r.stderr.splitlines() == [
        f"{path}:1: (document): an agent's name may not start with 'res-': agent 'res-pool' would have the "
        "SLURM job name sac-res-pool, which is the job of reservation 'pool' (sac agent status and stop would "
        "act on that reservation's job)",
        f"{path}:6: spec.bogus: unknown field 'bogus'; allowed: claude, env, model, restart, runtime, slurm, workdir",
        f"{path}:7: spec.env.GROUPS: is one of bash's own variables (bash sets or drops it itself); the value "
        "would not reach the agent as written",
        f"{path}:9: spec.slurm.cpus_per_task: must be at least 1 (got 0)",
        f"{path}:10: spec.slurm.time_limit: resubmit lead 3600 s must be shorter than time_limit '30' (1800 s); "
        "lower resubmit_before or set auto_resubmit: false",
        f"{path}:11: spec.slurm.reservation: only for runtime: slurm-tenant (runtime: slurm submits its own job)",
    ]


def test_a_check_on_a_value_skips_a_value_the_schema_refused(tmp_path):
    path = agent_yaml(tmp_path, "  slurm:\n    time_limit: \"2 hours\"\n    resubmit_before: 10\n")
    assert [line.split(": ")[1] for line in problems(path)] == ["spec.slurm.time_limit",
                                                               "spec.slurm.resubmit_before"]
    res = tmp_path / "pool.yaml"
    res.write_text("apiVersion: scitex-agent-container/v3\nkind: Reservation\n"
                   "metadata: {name: Other}\nspec: {host: h, tmux_server: sac-dev x, persistent: yes, "
                   "time: 2 hours}\n")
    got = problems(res)
    assert [line.split(": ")[1] for line in got] == ["metadata.name", "spec.time", "spec.tmux_server"], got
    assert "lowercase" in got[0] and "SLURM time" in got[1] and "tmux socket name" in got[2], got


@pytest.mark.parametrize("kind", ["Agent", "Reservation"])
def test_the_checks_beyond_the_schema_never_fail_on_a_wrong_value(kind):
    """Any field of a full document, given a value of any wrong kind: problems,
    never an exception."""
    import copy

    import yaml

    from sacgen.compile.check import check_document
    from sacgen.compile.load import Document

    source = {"Agent": "examples/every-field/every-field.yaml", "Reservation": "examples/lab-pool/lab-pool.yaml"}
    base = yaml.safe_load((Path(__file__).parents[2] / source[kind]).read_text())
    base["spec"]["runtime" if kind == "Agent" else "host"] = base["spec"].get("runtime", "h")

    def paths(node, prefix=()):
        yield prefix
        if isinstance(node, dict):
            for k, v in node.items():
                yield from paths(v, prefix + (k,))

    odd = [None, [], {}, "", "x", "sac-x", "slurm-tenant", 0, -1, 10 ** 9, 1.5, True, False, [1], {"a": 1}]
    for tenant in (False, True):
        start = copy.deepcopy(base)
        if tenant and kind == "Agent":
            start["spec"]["runtime"] = "slurm-tenant"
        for path in list(paths(start))[1:]:
            for value in odd:
                data = copy.deepcopy(start)
                node = data
                for k in path[:-1]:
                    node = node[k]
                node[path[-1]] = value
                _, found = check_document(Document("f.yaml", data, {}), "some-name")
                assert all(p.file == "f.yaml" for p in found), (path, value)


def test_a_kind_that_is_a_list_is_one_line_not_a_traceback(tmp_path):
    path = tmp_path / "k.yaml"
    path.write_text("apiVersion: scitex-agent-container/v3\nkind: [Agent]\nspec: {}\n")
    r = run_cli("sacgen", "validate", str(path))
    assert (r.returncode, r.stdout) == (2, "")
    assert r.stderr == f'{path}:2: kind: must be Agent or Reservation (got ["Agent"]); did you mean \'Agent\'?\n'


@pytest.mark.parametrize("body, line, says", [
    ("spec:\n  runtime: slurm\n model: opus\n", 5,
     "expected <block end>, but found '<block mapping start>' (a line indented differently from the lines above it"),
    ('spec:\n  runtime: slurm\n  model: "opus\n', 5, "found unexpected end of stream (a quote opened and never closed)"),
    # The line where the quote opened, not the end of the file.
    ("spec:\n  model: 'opus\n  runtime: slurm\n  workdir: ~/w\n", 4,
     "found unexpected end of stream (a quote opened and never closed)"),
    ('spec:\n  model: "opus\n  runtime: slurm\n---\nkind: Agent\n', 4,
     "found unexpected document separator (a quote opened and never closed)"),
    ("spec\n  runtime: slurm\n", 4, "could not find expected ':' (a line that is neither `key: value` nor a `- item`"),
])
def test_the_yaml_mistakes_people_make_are_said_in_plain_words(body, line, says, tmp_path):
    path = tmp_path / "a.yaml"
    path.write_text("apiVersion: scitex-agent-container/v3\nkind: Agent\n" + body)
    r = run_cli("sacgen", "validate", str(path))
    assert r.returncode == 2 and r.stderr.startswith(f"{path}:{line}: (document): invalid YAML: {says}"), r.stderr
    assert len(r.stderr.splitlines()) == 1
