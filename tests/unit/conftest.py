import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def root():
    return ROOT


def run_cli(prog: str, *args, cwd=None, env=None, input=None, timeout=60):
    """Run a console entry point as a user would (a fresh interpreter)."""
    code = {"sacgen": "from sacgen.cli.sacgen import console", "sac": "from sacgen.cli.sac import console"}[prog]
    full_env = dict(os.environ)
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-c", f"{code}; console()", *args],
        cwd=cwd or ROOT, env=full_env, input=input, capture_output=True, text=True, timeout=timeout,
    )
