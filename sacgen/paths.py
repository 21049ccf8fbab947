"""Where sacgen's files are: its templates and schemas (inside the wheel, or
beside the package in a source tree), and the user's state folder $SAC_HOME."""

from __future__ import annotations

import hashlib
import os
import stat
from functools import lru_cache
from pathlib import Path

from . import __version__

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


def template_dir() -> Path:
    return Path(template_root())


def schema_dir() -> Path:
    return Path(schema_root())


def sac_home_dir() -> str:
    """$SAC_HOME, else ~/.scitex/agent-container."""
    return os.environ.get("SAC_HOME") or os.path.join(os.path.expanduser("~"), ".scitex", "agent-container")


def sac_home() -> Path:
    return Path(sac_home_dir())


def caches_enabled() -> bool:
    return os.environ.get("SAC_CACHE", "1").lower() not in ("0", "no", "off", "false")


def private(path: str) -> bool:
    """PATH is a folder (not a link to one) of this user's that no one else can
    write to."""
    try:
        st = os.lstat(path)
    except OSError:
        return False
    return stat.S_ISDIR(st.st_mode) and st.st_uid == os.getuid() and not st.st_mode & 0o022


def cache_folder() -> str | None:
    """$SAC_HOME/cache, made if need be; None when the caches are off or the
    folder is not private (someone else could plant scripts that sac would run)."""
    if not caches_enabled():
        return None
    folder = os.path.join(sac_home_dir(), "cache")
    try:
        # $SAC_HOME too is made 0700 (makedirs gives the folders it makes on the
        # way the default mode).
        os.makedirs(sac_home_dir(), mode=0o700, exist_ok=True)
        os.makedirs(folder, mode=0o700, exist_ok=True)
    except OSError:
        return None
    return folder if private(folder) else None


@lru_cache(maxsize=None)
def fingerprint() -> str:
    """A hash of sacgen's version and of the size and mtime of every file of the
    package, its templates and its schemas: what a cached script or spec was made
    by. A changed template or a newer sacgen never meets an old cache entry."""
    h = hashlib.blake2b(__version__.encode(), digest_size=32)
    # In a wheel the templates and schemas are inside the package; in a source
    # tree (or an editable install) beside it.
    roots = [_HERE] + [d for d in (template_root(), schema_root()) if not d.startswith(_HERE + os.sep)]
    for root in roots:
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames[:] = sorted(d for d in dirnames if d != "__pycache__")
            for name in sorted(filenames):
                st = os.stat(os.path.join(dirpath, name))
                h.update(f"{dirpath}/{name}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return h.hexdigest()
