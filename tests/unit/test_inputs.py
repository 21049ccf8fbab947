"""Input that passed validation but did not do what it said, or that sacgen did
not take the way the interface promises: bash's own variables in spec.env,
values YAML 1.1 rewrites, names that collide on the cluster, files that are not
files, folders without YAML, and build output folders."""

import shutil
import subprocess

import pytest

from sacgen.errors import SpecError
from sacgen.schema import BASH_OWN_ENV, READONLY_ENV
from sacgen.spec import load_specs

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


def _bash_5() -> bool:
    if BASH is None or ENV is None:
        return False
    out = subprocess.run([BASH, "-c", 'printf %s "${BASH_VERSINFO[0]}"'], capture_output=True, text=True).stdout
    return out.isdigit() and int(out) >= 5


needs_bash_5 = pytest.mark.skipif(not _bash_5(), reason="needs bash 5")


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


@needs_bash_5
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
