"""Rendered scripts and validated specs kept between runs of `sac`
($SAC_HOME/cache/), so that an operation on a known agent loads neither Jinja
nor the YAML and schema stack.

A script is stored under a hash of everything its text depends on: the spec (all
its fields), the artifact's name, sacgen's version, and the size and mtime of
every file of the sacgen package, its templates and its schemas. A changed template or a
newer sacgen therefore never meets an old script. Each file holds the hash of its
own text on its first line and is checked on every read; a file that does not
match (a torn write) is rendered again. SAC_CACHE=0 turns the cache off.

A validated spec is stored under a hash of the YAML file's bytes, the path it is
shown by, its name (the file's stem) and the same fingerprint of sacgen; only a
file that passed every check is stored, so a file with problems is read and
reported every time.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from functools import lru_cache
from pathlib import Path

MAX_FILES = 4096


def enabled() -> bool:
    return os.environ.get("SAC_CACHE", "1").lower() not in ("0", "no", "off", "false")


@lru_cache(maxsize=None)
def _fingerprint() -> str:
    from . import __version__
    from .resources import schema_dir, template_dir

    h = hashlib.sha256(__version__.encode())
    package = Path(__file__).resolve().parent
    # In a wheel the templates and schemas are inside the package; in a source
    # tree (or an editable install) beside it.
    roots = [package] + [d for d in (template_dir(), schema_dir()) if package not in d.parents]
    for root in roots:
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames[:] = sorted(d for d in dirnames if d != "__pycache__")
            for name in sorted(filenames):
                st = os.stat(os.path.join(dirpath, name))
                h.update(f"{dirpath}/{name}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return h.hexdigest()


def _folder() -> Path:
    from .registry import sac_home

    return sac_home() / "cache"


def artifact(spec, name: str) -> str:
    """The text of artifact `name` of `spec` (None: a per-batch helper), from the
    cache when it is there and intact, else rendered and stored."""
    from .render import render_artifact

    if not enabled():
        return render_artifact(spec, name)
    key = hashlib.sha256(f"{_fingerprint()}\0{name}\0{spec!r}".encode()).hexdigest()
    path = _folder() / f"{key}.sh"
    text = _read(path)
    if text is None:
        text = render_artifact(spec, name)
        _store(path, text)
    return text


def spec(path: Path, where: str, validate):
    """(spec, []) for the YAML file at path, shown as `where`: from the cache when
    these very bytes were validated before, else validate(raw) -- (spec or None,
    problems) -- whose valid spec is stored. None when the file cannot be read
    (the caller reads it again, and reports why)."""
    try:
        raw = path.read_bytes()
    except OSError:
        return None
    if not enabled():
        return validate(raw)
    h = hashlib.sha256(f"{_fingerprint()}\0spec\0{where}\0{path.stem}\0".encode())
    h.update(raw)
    store = _folder() / f"{h.hexdigest()}.spec"
    text = _read(store)
    if text is not None:
        try:
            return _spec_from_json(text), []
        except (ValueError, KeyError, TypeError):
            pass
    got, problems = validate(raw)
    if got is not None:
        _store(store, _spec_to_json(got))
    return got, problems


def _spec_to_json(s) -> str:
    import json

    return json.dumps([s.kind, s._asdict()], sort_keys=True)


def _spec_from_json(text: str):
    import json

    from .spec import AgentSpec, ReservationSpec

    kind, fields = json.loads(text)
    if kind == "Agent":
        fields["flags"] = tuple(fields["flags"])
        fields["env"] = tuple((k, v) for k, v in fields["env"])
        return AgentSpec(**fields)
    if kind == "Reservation":
        return ReservationSpec(**fields)
    raise ValueError(kind)


def _read(path: Path) -> str | None:
    try:
        data = path.read_bytes()
    except OSError:
        return None
    digest, _, body = data.partition(b"\n")
    if hashlib.sha256(body).hexdigest().encode() != digest:
        return None
    return body.decode("utf-8")


def _store(path: Path, text: str) -> None:
    """Atomically, best effort: a cache that cannot be written is only slower."""
    body = text.encode("utf-8")
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        _prune(path.parent)
        fd, tmp = tempfile.mkstemp(prefix=".tmp.", dir=path.parent)
        with os.fdopen(fd, "wb") as f:
            f.write(hashlib.sha256(body).hexdigest().encode() + b"\n" + body)
        os.replace(tmp, path)
        tmp = None
    except OSError:
        pass
    finally:
        if tmp:
            try:
                os.unlink(tmp)
            except OSError:
                pass


def _prune(folder: Path) -> None:
    """Keep the folder bounded: past MAX_FILES, drop the older half."""
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return
    if len(entries) < MAX_FILES:
        return
    entries.sort(key=lambda e: e.stat().st_mtime_ns)
    for e in entries[: len(entries) // 2]:
        try:
            os.unlink(e.path)
        except OSError:
            pass
