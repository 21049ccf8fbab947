"""Helpers for driving sac against the test cluster as a user would."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import yaml

ASSETS = Path(__file__).parent / "assets"

HOSTILE_FLAGS = [
    "--dangerously-skip-permissions", "it's \"quoted\"", "$(touch PWNED)", "`id`", "back\\slash",
    "new\nline", "*", "-leading-dash", "unicode ✓ é", "", "  spaced  out  ", "$HOME ~ ;|&<>",
]


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


class Sac:
    """Runs `sac` in a fresh interpreter with an isolated SAC_HOME, counting
    every ssh connection through a $SAC_SSH wrapper."""

    def __init__(self, cluster, env: dict, tmp: Path):
        self.cluster = cluster
        self.tmp = tmp
        self.ssh_log = tmp / "ssh-calls.log"
        wrapper = tmp / "ssh-wrapper"
        wrapper.write_text(f"#!/bin/bash\necho \"$*\" >> {self.ssh_log}\nexec {env['SAC_SSH']} \"$@\"\n")
        wrapper.chmod(0o755)
        self.env = dict(env, SAC_SSH=str(wrapper))
        self.home = Path(env["SAC_HOME"])
        self.names: list[str] = []

    def __call__(self, *args, timeout=120, env=None, input=None, prog="sac") -> subprocess.CompletedProcess:
        # The console entry points of pyproject.toml, as the installed commands call them.
        code = {"sac": "from sacgen.cli.sac import console", "sacgen": "from sacgen.cli.sacgen import console",
                "scitex-hpc": "from sacgen.cli.sac import hpc_console as console"}[prog]
        return subprocess.run([sys.executable, "-c", f"{code}; console()", *map(str, args)],
                              env=dict(self.env, **(env or {})), capture_output=True, text=True,
                              timeout=timeout, input=input, cwd=self.tmp)

    def ssh_calls(self) -> int:
        try:
            return len(self.ssh_log.read_text().splitlines())
        except FileNotFoundError:
            return 0

    def json(self, *args, **kw):
        r = self(*args, "--json", **kw)
        assert r.stdout.strip(), f"no JSON from sac {' '.join(map(str, args))}: rc={r.returncode} {r.stderr}"
        return json.loads(r.stdout)

    def status(self, name: str) -> dict:
        return self.json("agent", "status", name)

    def agent_yaml(self, name: str, spec: dict, where: Path | None = None, metadata: dict | None = None) -> Path:
        """Write <where>/<name>/<name>.yaml (default: $SAC_HOME/agents, found by discovery)."""
        base = where or (self.home / "agents")
        path = base / name / f"{name}.yaml"
        path.parent.mkdir(parents=True, exist_ok=True)
        doc = {"apiVersion": "scitex-agent-container/v3", "kind": "Agent", "spec": spec}
        if metadata:
            doc["metadata"] = metadata
        path.write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False))
        self.names.append(name)
        return path

    def cleanup(self) -> None:
        names = [f"sac-{n}" for n in self.names]
        if names:
            self.cluster.run(["scancel", "-n", ",".join(names)])


def install_stub_agent(cluster) -> str:
    """The stub agent in the login user's home; returns its `~/...` path."""
    target = cluster.home / "bin" / "stub-agent"
    target.parent.mkdir(exist_ok=True)
    shutil.copy(ASSETS / "stub-agent", target)
    target.chmod(0o755)
    shutil.chown(target.parent, cluster.user)
    shutil.chown(target, cluster.user)
    return "~/bin/stub-agent"


def records(cluster, name: str) -> list[dict]:
    """What each start of the stub agent of `name` recorded (oldest first)."""
    base = cluster.home / "records" / name
    out = []
    if not base.is_dir():
        return out
    for argv in sorted(base.glob("*.argv"), key=lambda p: p.stat().st_mtime):
        stem = argv.with_suffix("")
        env_raw = stem.with_suffix(".env").read_bytes() if stem.with_suffix(".env").exists() else b""
        env = dict(item.split(b"=", 1) for item in env_raw.split(b"\0") if b"=" in item)
        out.append({
            "argv": [a.decode("utf-8", "surrogateescape") for a in argv.read_bytes().split(b"\0")[:-1]],
            "env": {k.decode(): v.decode("utf-8", "surrogateescape") for k, v in env.items()},
            "cwd": stem.with_suffix(".cwd").read_text().rstrip("\n") if stem.with_suffix(".cwd").exists() else None,
            "pid": stem.with_suffix(".pid").read_text().strip() if stem.with_suffix(".pid").exists() else None,
        })
    return out


def record_env(cluster, name: str) -> dict:
    """spec.env entries that make the stub agent record into records/<name>/."""
    return {"STUB_AGENT_RECORD": f"{cluster.home}/records/{name}"}


def pane_has(sac: Sac, name: str, text: str) -> bool:
    r = sac("agent", "logs", name, "-n", "50")
    return r.returncode == 0 and text in r.stdout


def attach_in_a_pty(cluster, sac: Sac, name: str, tmp_path: Path, term: str | None = None) -> str:
    """`sac agent attach NAME` in a real terminal (a tmux of the laptop's own,
    with TERM set to `term` when given): see the stub agent's pane, type to it,
    detach with C-b d. Returns the terminal's screen after the detach."""
    sock = tmp_path / "term.sock"
    envs = []
    for k, v in sac.env.items():
        envs += ["-e", f"{k}={v}"]
    prefix = f"TERM={shlex.quote(term)} " if term else ""
    cmd = (f"cd {tmp_path} && {prefix}{sys.executable} -c 'from sacgen.cli.sac import console; console()' "
           f"agent attach {name}; echo ATTACH-EXITED $?; sleep 30")
    terminal = ["tmux", "-S", str(sock)]
    subprocess.run([*terminal, "new-session", "-d", "-x", "120", "-y", "40", *envs, cmd], check=True,
                   env=dict(sac.env, TMUX_TMPDIR=str(tmp_path)))
    try:
        def screen():
            return subprocess.run([*terminal, "capture-pane", "-p"], capture_output=True, text=True).stdout
        try:
            cluster.wait_for(lambda: "stub agent ready" in screen(), 20, "the agent's pane in the attached terminal")
        except Exception as e:
            raise AssertionError(f"no agent pane in the attached terminal; it shows: {screen().strip()!r}") from e
        subprocess.run([*terminal, "send-keys", "hello from the laptop", "Enter"], check=True)
        cluster.wait_for(lambda: pane_has(sac, name, "echo: hello from the laptop"), 10, "typed text reaching the agent")
        subprocess.run([*terminal, "send-keys", "C-b", "d"], check=True)
        cluster.wait_for(lambda: "ATTACH-EXITED 0" in screen(), 15, "detach returning to the laptop")
        return screen()
    finally:
        subprocess.run([*terminal, "kill-server"], capture_output=True)


os.environ.setdefault("PYTHONDONTWRITEBYTECODE", "1")
