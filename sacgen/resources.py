"""Where the templates and schemas are: inside the wheel, or the source tree.

Plain os.path here: `sac` calls that find their scripts in the cache read these
folders' fingerprint, and pathlib would cost them ~3 ms of imports.
"""

from __future__ import annotations

import os

_HERE = os.path.dirname(os.path.realpath(__file__))


def _find(name: str) -> str:
    for candidate in (os.path.join(_HERE, name), os.path.join(os.path.dirname(_HERE), name)):
        if os.path.isdir(candidate):
            return candidate
    raise FileNotFoundError(f"sacgen installation is incomplete: no {name}/ beside {_HERE}")


def template_root() -> str:
    return _find("templates")


def schema_root() -> str:
    return _find("schemas")


def template_dir():
    """template_root() as a pathlib.Path."""
    from pathlib import Path

    return Path(template_root())


def schema_dir():
    """schema_root() as a pathlib.Path."""
    from pathlib import Path

    return Path(schema_root())
