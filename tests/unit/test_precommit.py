"""The hooks of .pre-commit-hooks.yaml, run by pre-commit itself on a small
repository: pre-commit installs sacgen from this source tree (pip, into its own
environment) and runs `sacgen validate` and `sacgen build --check` as a
consuming repository would. Slow (the environment's install): one test."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import ROOT

PRE_COMMIT = Path(sys.executable).with_name("pre-commit")

AGENT = """\
# yaml-language-server: $schema=../agent.schema.json
apiVersion: scitex-agent-container/v3
kind: Agent
spec:
  runtime: slurm
  model: opus
  slurm:
    host: spartan
    mem: {mem}
"""


def git(cwd: Path, *args: str) -> str:
    env = dict(os.environ, GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@t", GIT_COMMITTER_NAME="t",
               GIT_COMMITTER_EMAIL="t@t")
    r = subprocess.run(["git", "-c", "init.defaultBranch=main", "-c", "commit.gpgsign=false", *args], cwd=cwd,
                       env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return r.stdout.strip()


def snapshot(dest: Path) -> str:
    """This source tree as it is now (uncommitted changes too), committed in a
    repository of its own: what pre-commit clones. Its commit."""
    listed = subprocess.run(["git", "ls-files", "-z", "-co", "--exclude-standard"], cwd=ROOT,
                            capture_output=True, check=True).stdout.decode().split("\0")
    for name in filter(None, listed):
        src = ROOT / name
        if src.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / name)
    git(dest, "init", "-q")
    git(dest, "add", "-A")
    git(dest, "commit", "-q", "-m", "snapshot")
    return git(dest, "rev-parse", "HEAD")


@pytest.mark.skipif(not PRE_COMMIT.exists() or shutil.which("git") is None,
                    reason="needs pre-commit (pip install -e '.[test]') and git")
def test_the_hooks_run_under_pre_commit(tmp_path):
    hooks = tmp_path / "hooks"
    hooks.mkdir()
    rev = snapshot(hooks)
    work = tmp_path / "work"
    (work / "agents" / "good").mkdir(parents=True)
    (work / "agents" / "bad").mkdir(parents=True)
    (work / "agents" / "good" / "good.yaml").write_text(AGENT.format(mem="16G"))
    (work / "agents" / "bad" / "bad.yaml").write_text(AGENT.format(mem="16GB"))
    git(work, "init", "-q")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PRE_COMMIT", "VIRTUAL_ENV"))}
    env.update(PRE_COMMIT_HOME=str(tmp_path / "cache"), PIP_DISABLE_PIP_VERSION_CHECK="1",
               PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}")

    def pre_commit(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([str(PRE_COMMIT), *args], cwd=work, env=env, capture_output=True, text=True,
                              timeout=900)

    # try-repo: the hook as published, on the files given.
    ok = pre_commit("try-repo", str(hooks), "sacgen-validate", "--ref", rev, "--files", "agents/good/good.yaml")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "sacgen validate" in ok.stdout and "Passed" in ok.stdout, ok.stdout
    bad = pre_commit("try-repo", str(hooks), "sacgen-validate", "--ref", rev, "--files", "agents/bad/bad.yaml",
                     "agents/good/good.yaml")
    assert bad.returncode == 1, bad.stdout + bad.stderr
    assert "Failed" in bad.stdout
    want = ("agents/bad/bad.yaml:9: spec.slurm.mem: must be a SLURM memory size such as 16G, 4000M or 512 "
            "(megabytes); units K, M, G, T (got \"16GB\")")
    assert want in bad.stdout.splitlines(), bad.stdout
    assert "Traceback" not in bad.stdout + bad.stderr

    # sacgen-build-check needs its args: a consuming repository's config, the
    # same repository and commit (pre-commit reuses the environment).
    (work / "agents" / "bad" / "bad.yaml").unlink()
    (work / ".pre-commit-config.yaml").write_text(
        f"repos:\n  - repo: {hooks}\n    rev: {rev}\n    hooks:\n"
        "      - id: sacgen-validate\n        files: ^agents/\n"
        "      - id: sacgen-build-check\n        args: [agents, --check, golden]\n        files: ^(agents|golden)/\n")
    built = subprocess.run([sys.executable, "-m", "sacgen.cli.sacgen", "build", "agents", "-o", "golden"], cwd=work,
                           capture_output=True, text=True, timeout=120)
    assert built.returncode == 0, built.stderr
    git(work, "add", "-A")
    r = pre_commit("run", "--all-files")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "sacgen build --check" in r.stdout and "Failed" not in r.stdout, r.stdout
    stale = work / "golden" / "good" / "start.sh"
    stale.write_text(stale.read_text() + "# edited by hand\n")
    r = pre_commit("run", "--all-files")
    assert r.returncode == 1, r.stdout + r.stderr
    assert "golden differs from the build (to write it again: sacgen build agents -o golden)" in r.stdout, r.stdout
    assert "+# edited by hand" not in r.stdout and "-# edited by hand" in r.stdout, r.stdout
