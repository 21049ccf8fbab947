"""Rendered scripts and validated specs kept between runs of `sac`
($SAC_HOME/cache/), so that an operation on a known agent loads neither Jinja
nor the YAML and schema stack.

A script is stored under a hash of everything its text depends on: the spec (all
its fields), the artifact's name, sacgen's version, and the size and mtime of
every file of the sacgen package, its templates and its schemas. A changed template or a
newer sacgen therefore never meets an old script. Each file holds the hash of its
own text on its first line and is checked on every read; a file that does not
match (a torn write) is rendered again. SAC_CACHE=0 turns the cache off, and
a cache folder that is not private to the user is not used (its scripts run).

A validated spec is stored under a hash of the YAML file's bytes, the path it is
shown by, its name (the file's stem) and the same fingerprint of sacgen; only a
file that passed every check is stored, so a file with problems is read and
reported every time.

This is the one place where the run stage reaches back into the compile stage's
heavy parts (Jinja, PyYAML, jsonschema): only on a miss, so that an operation on a
known agent loads none of them.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from ..compile.model import AgentSpec, ReservationSpec, Spec
from ..compile.source import display_path, read_all, read_input
from ..errors import Problem
from ..files import atomic_write
from ..paths import cache_folder, fingerprint

MAX_FILES = 4096


def _hash(data: bytes) -> hashlib.blake2b:
    return hashlib.blake2b(data, digest_size=32)


def artifact(spec: Spec | None, name: str) -> str:
    """The text of artifact NAME of SPEC (None: a per-batch script), from the
    cache when it is there and intact, else rendered and stored."""
    folder = cache_folder()
    path = None
    if folder is not None:
        key = _hash(f"{fingerprint()}\0{name}\0{spec!r}".encode()).hexdigest()
        path = os.path.join(folder, f"{key}.sh")
        text = _read(path)
        if text is not None:
            return text
    from ..compile.render import render_artifact  # Jinja and the templates: only on a miss

    text = render_artifact(spec, name)
    if path is not None:
        _store(path, text)
    return text


def read_spec(path: Path, cwd: Path | None = None) -> tuple[Spec | None, list[Problem]]:
    """compile.specs.read_spec, but a file whose very bytes were validated before
    (by this sacgen, shown by the same path, under the same name) is taken from
    the cache. Only a file that passed every check is stored, so a file with
    problems is read and reported every time."""
    where = display_path(path, cwd)
    raw, problems = read_input(path, where)
    if raw is None:
        return None, problems
    folder = cache_folder()
    store = None
    if folder is not None:
        h = _hash(f"{fingerprint()}\0spec\0{where}\0{path.stem}\0".encode())
        h.update(raw)
        store = os.path.join(folder, f"{h.hexdigest()}.spec")
        text = _read(store)
        if text is not None:
            try:
                return _spec_from_json(text), []
            except (ValueError, KeyError, TypeError):
                pass
    from ..compile import specs  # PyYAML and the schema checks: only on a miss

    got, problems = specs.spec_of_bytes(raw, path.stem, where)
    if got is not None and store is not None:
        _store(store, _spec_to_json(got))
    return got, problems


def load_specs(paths: list[str]) -> list[Spec]:
    """compile.specs.load_specs with the cached reader."""
    return read_all(paths, read_spec)


def _spec_to_json(s) -> str:
    return json.dumps([s.kind, s._asdict()], sort_keys=True)


def _spec_from_json(text: str):
    kind, fields = json.loads(text)
    fields["extra_directives"] = tuple(fields.get("extra_directives", ()))
    if kind == "Agent":
        fields["flags"] = tuple(fields["flags"])
        fields["env"] = tuple((k, v) for k, v in fields["env"])
        return AgentSpec(**fields)
    if kind == "Reservation":
        return ReservationSpec(**fields)
    raise ValueError(kind)


def _read(path: str) -> str | None:
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError:
        return None
    digest, _, body = data.partition(b"\n")
    if _hash(body).hexdigest().encode() != digest:
        return None
    return body.decode("utf-8")


def _store(path: str, text: str) -> None:
    """Best effort: a cache that cannot be written is only slower. Not synced:
    a torn file fails its hash and is made again."""
    body = text.encode("utf-8")
    try:
        _prune(os.path.dirname(path))
        atomic_write(path, _hash(body).hexdigest().encode() + b"\n" + body, 0o600, sync=False)
    except OSError:
        pass


def _prune(folder: str) -> None:
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
