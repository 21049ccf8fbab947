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
"""

from __future__ import annotations

import os
import stat
from functools import lru_cache

MAX_FILES = 4096

try:
    # hashlib loads OpenSSL (~2 ms of every `sac` call); the built-in BLAKE2 does not.
    from _blake2 import blake2b
except ImportError:  # a Python built without it
    from hashlib import blake2b


def _hash(data: bytes):
    return blake2b(data, digest_size=32)


def enabled() -> bool:
    return os.environ.get("SAC_CACHE", "1").lower() not in ("0", "no", "off", "false")


@lru_cache(maxsize=None)
def _fingerprint() -> str:
    from . import __version__
    from .resources import schema_root, template_root

    h = _hash(__version__.encode())
    package = os.path.dirname(os.path.realpath(__file__))
    # In a wheel the templates and schemas are inside the package; in a source
    # tree (or an editable install) beside it.
    roots = [package] + [d for d in (template_root(), schema_root()) if not d.startswith(package + os.sep)]
    for root in roots:
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames[:] = sorted(d for d in dirnames if d != "__pycache__")
            for name in sorted(filenames):
                st = os.stat(os.path.join(dirpath, name))
                h.update(f"{dirpath}/{name}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return h.hexdigest()


def template_bytecode():
    """A Jinja bytecode cache in $SAC_HOME/cache/jinja-<version>-<fingerprint>
    (compiling the templates takes ~35 ms of every process that renders; loading
    them compiled, ~3 ms), or None: SAC_CACHE=0, or a cache folder that is not
    private to this user (what is in it is run). Keyed by Jinja's version and
    sacgen's fingerprint, since Jinja keys compiled code by the template's source
    only, not by the environment sacgen configures; the folders of other keys are
    removed."""
    folder = _cache_folder()
    if folder is None:
        return None
    import shutil

    import jinja2

    class Quiet(jinja2.FileSystemBytecodeCache):
        """A cache that cannot be read or written is only slower."""

        def load_bytecode(self, bucket):
            try:
                super().load_bytecode(bucket)
            except Exception:  # a torn or foreign file: compile instead
                bucket.reset()

        def dump_bytecode(self, bucket):
            try:
                super().dump_bytecode(bucket)
            except OSError:
                pass

    here = f"jinja-{jinja2.__version__}-{_fingerprint()[:24]}"
    path = os.path.join(folder, here)
    try:
        if not os.path.isdir(path):
            for e in os.scandir(folder):
                if e.name.startswith("jinja-") and e.name != here:
                    shutil.rmtree(e.path, ignore_errors=True)
            os.makedirs(path, mode=0o700, exist_ok=True)
    except OSError:
        return None
    return Quiet(path) if _private(path) else None


def _private(path: str) -> bool:
    """PATH is a folder (not a link to one) of this user's that no one else can
    write to."""
    try:
        st = os.lstat(path)
    except OSError:
        return False
    return stat.S_ISDIR(st.st_mode) and st.st_uid == os.getuid() and not st.st_mode & 0o022


def _cache_folder() -> str | None:
    """$SAC_HOME/cache, made if need be; None when the caches are off or the
    folder is not private (someone else could plant scripts that sac would run)."""
    if not enabled():
        return None
    from .registry import sac_home_dir

    folder = _folder()
    try:
        # $SAC_HOME too is made 0700 (makedirs gives the folders it makes on the
        # way the default mode).
        os.makedirs(sac_home_dir(), mode=0o700, exist_ok=True)
        os.makedirs(folder, mode=0o700, exist_ok=True)
    except OSError:
        return None
    return folder if _private(folder) else None


def _folder() -> str:
    from .registry import sac_home_dir

    return os.path.join(sac_home_dir(), "cache")


def artifact(spec, name: str) -> str:
    """The text of artifact `name` of `spec` (None: a per-batch helper), from the
    cache when it is there and intact, else rendered and stored."""
    folder = _cache_folder()
    if folder is None:
        from .render import render_artifact

        return render_artifact(spec, name)
    key = _hash(f"{_fingerprint()}\0{name}\0{spec!r}".encode()).hexdigest()
    path = os.path.join(folder, f"{key}.sh")
    text = _read(path)
    if text is None:
        from .render import render_artifact  # Jinja and the templates: only on a miss

        text = render_artifact(spec, name)
        _store(path, text)
    return text


def spec(path, where: str, validate):
    """(spec, []) for the YAML file at path, shown as `where`: from the cache when
    these very bytes were validated before, else validate(raw) -- (spec or None,
    problems) -- whose valid spec is stored. None when the file cannot be read
    (the caller reads it again, and reports why)."""
    from .spec import read_input

    raw, _ = read_input(path, where)
    if raw is None:
        return None
    folder = _cache_folder()
    if folder is None:
        return validate(raw)
    h = _hash(f"{_fingerprint()}\0spec\0{where}\0{path.stem}\0".encode())
    h.update(raw)
    store = os.path.join(folder, f"{h.hexdigest()}.spec")
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
    """Atomically, best effort: a cache that cannot be written is only slower."""
    import tempfile

    body = text.encode("utf-8")
    tmp = None
    try:
        folder = os.path.dirname(path)  # made by _cache_folder()
        _prune(folder)
        fd, tmp = tempfile.mkstemp(prefix=".tmp.", dir=folder)
        with os.fdopen(fd, "wb") as f:
            f.write(_hash(body).hexdigest().encode() + b"\n" + body)
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
