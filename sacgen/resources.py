"""Where the templates and schemas are: inside the wheel, or the source tree."""

from __future__ import annotations

from pathlib import Path

_HERE = Path(__file__).resolve().parent


def _find(name: str) -> Path:
    for candidate in (_HERE / name, _HERE.parent / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"sacgen installation is incomplete: no {name}/ beside {_HERE}")


def template_dir() -> Path:
    return _find("templates")


def schema_dir() -> Path:
    return _find("schemas")
