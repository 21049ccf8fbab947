"""Where agent YAMLs are found by name: $SCITEX_AGENT_CONTAINER_YAML_DIRS
(colon-separated) and $SAC_HOME/agents/, in the dir-as-SSoT layout
<dir>/<name>/<name>.yaml. Earlier directories win."""

from __future__ import annotations

import os
from pathlib import Path

from ..compile.model import YAML_SUFFIXES
from ..paths import sac_home


def discovery_dirs() -> list[Path]:
    dirs = [Path(d).expanduser() for d in os.environ.get("SCITEX_AGENT_CONTAINER_YAML_DIRS", "").split(":") if d]
    return dirs + [sac_home() / "agents"]


def discover() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for d in discovery_dirs():
        if not d.is_dir():
            continue
        for sub in sorted(d.iterdir()):
            if not sub.is_dir() or sub.name in found:
                continue
            for suffix in YAML_SUFFIXES:
                candidate = sub / f"{sub.name}{suffix}"
                if candidate.is_file():
                    found[sub.name] = candidate
                    break
    return found


def looks_like_path(arg: str) -> bool:
    return arg.endswith(YAML_SUFFIXES) or "/" in arg or Path(arg).is_file()
