"""Stage 4 (compile side): write rendered artifacts to OUT atomically, or compare
them with a golden folder."""

from __future__ import annotations

import difflib
import hashlib
import json
import os
import pickle
import re
import shutil
import signal
import tempfile
import threading
import traceback
from contextlib import contextmanager
from pathlib import Path

from .. import __version__
from ..errors import OperationFailed, SpecError, Terminated, UsageError
from ..paths import template_dir
from .check import fast_check
from .model import Spec
from .render import environment, render
from .schemas import KINDS
from .source import expand_paths, select
from .specs import read_spec

MANIFEST = "manifest.json"


def render_tree(specs: list[Spec]) -> dict[str, tuple[str, int]]:
    """{relative path: (text, mode)} for every artifact of every spec, plus the manifest."""
    files: dict[str, tuple[str, int]] = {}
    entries = []
    for spec in sorted(specs, key=lambda s: (s.name, s.kind)):
        for art in render(spec):
            rel = f"{spec.name}/{art.name}"
            if rel in files:
                raise _overwrites(spec.source, spec.kind, spec.name, art.name)
            files[rel] = (art.text, art.mode)
            entries.append(_entry(spec.kind, spec.name, spec.source, art.name,
                                  hashlib.sha256(art.text.encode("utf-8")).hexdigest(), art.mode))
    files[MANIFEST] = (_manifest_json(entries), 0o644)
    return files


def _entry(kind: str, name: str, source: str, artifact: str, sha256: str, mode: int) -> dict:
    """One artifact's record in the manifest."""
    return {"path": f"{name}/{artifact}", "sha256": sha256, "mode": f"{mode:04o}", "kind": kind, "name": name,
            "spec": source}


def _overwrites(source: str, kind: str, name: str, artifact: str) -> UsageError:
    return UsageError(f"{source}: {kind.lower()} {name!r} would overwrite {name}/{artifact}; "
                      "agents and reservations need distinct names in one build")


def _manifest_json(entries: list[dict]) -> str:
    """json.dumps({"artifacts": entries, "generator": ...}, indent=2, sort_keys=True),
    byte for byte, with each flat entry encoded by the C encoder (json's indented
    encoder is pure Python, and slow for thousands of entries)."""
    encoded: dict = {}  # value -> its JSON (kinds, modes, sources repeat)

    def enc(value) -> str:
        text = encoded.get(value)
        if text is None:
            text = encoded[value] = json.dumps(value)
        return text

    items = []
    for entry in entries:
        items.append(",\n".join(f"      {enc(k)}: {enc(entry[k])}" for k in sorted(entry)))
    body = "    {\n" + "\n    },\n    {\n".join(items) + "\n    }" if items else ""
    artifacts = f"[\n{body}\n  ]" if items else "[]"
    return f'{{\n  "artifacts": {artifacts},\n  "generator": {json.dumps(f"sacgen {__version__}")}\n}}\n'


def build(paths: list[str], out: Path, jobs: int | None = None) -> tuple[int, int]:
    """Load, validate, render and write every spec under PATHS to OUT, atomically
    (see _staging). Returns (files written, specs).

    JOBS processes (default: one per CPU, fewer for a small build) each take every
    JOBS-th file, load, validate and render it, and write its artifacts into a
    folder of its own under the temporary tree. The parent then decides which
    specs stand, exactly as load_specs does (every problem of every file, in file
    order), moves their folders into place and writes the manifest. The tree is the
    same byte for byte whatever JOBS."""
    files = expand_paths(paths)
    jobs = default_jobs(len(files)) if jobs is None else max(1, min(jobs, len(files) or 1))
    umask = os.umask(0)  # modes exactly as rendered, with no chmod per file
    try:
        with _staging(out) as tmp:
            stage = tmp / ".stage"
            os.mkdir(stage, 0o755)
            results = _run_shards(files, stage, jobs, out)
            keep, problems = select((r[0], r[1]) for r in results)
            if problems:
                raise SpecError(problems)
            entries: list[dict] = []
            owner: dict[str, set] = {}
            for i in sorted(keep, key=lambda i: (results[i][1][1], results[i][1][0])):
                (kind, name, source), arts = results[i][1], results[i][2]
                if name in owner:
                    raise _overwrites(source, kind, name,
                                      next((a for a, _, _ in arts if a in owner[name]), arts[0][0]))
                owner[name] = {a for a, _, _ in arts}
                os.rename(stage / str(i), tmp / name)
                entries.extend(_entry(kind, name, source, *art) for art in arts)
            shutil.rmtree(stage)
            _write_file(tmp / MANIFEST, _manifest_json(entries).encode("utf-8"), 0o644)
    finally:
        os.umask(umask)
    return len(entries) + 1, len(keep)


def default_jobs(files: int) -> int:
    """One process per CPU this process may use, and per 50 files at least (a
    process costs a few ms to start; below that the build stays in one)."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cpus = os.cpu_count() or 1
    return max(1, min(cpus, 8, files // 50))


def _run_shards(files: list[Path], stage: Path, jobs: int, out: Path) -> list[tuple]:
    """[(problems, (kind, name, source) or None, [(artifact, sha256, mode)] or None)]
    for every file, in order: shard 0 in this process, the others in forked ones."""
    cwd = Path.cwd().resolve()
    shards = [range(k, len(files), jobs) for k in range(jobs)]
    children: dict[int, int] = {}  # pid -> shard
    if jobs > 1:
        _warm()  # what every shard needs, loaded once before the fork
    try:
        for k in range(1, jobs):
            with _signals_held():  # a child is in `children` before a signal can end the build
                pid = os.fork()
                if pid:
                    children[pid] = k
            if pid == 0:  # pragma: no cover (child)
                status = 70
                for sig in _STOPPING:  # die at once: the parent removes what we wrote
                    signal.signal(sig, signal.SIG_DFL)
                signal.pthread_sigmask(signal.SIG_UNBLOCK, _STOPPING)
                try:
                    with open(stage / f"shard-{k}", "wb") as f:
                        pickle.dump(_shard(files, shards[k], stage, cwd), f)
                    status = 0
                except KeyboardInterrupt:
                    status = 130
                except BaseException:
                    traceback.print_exc()
                finally:
                    os._exit(status)
        parts = {0: _shard(files, shards[0], stage, cwd)}
        for pid in list(children):  # only our own children: never another's
            _, status = os.waitpid(pid, 0)
            k = children.pop(pid)
            if status != 0:
                raise RuntimeError(f"sacgen build: the process building shard {k} failed (status {status:#x})")
            with open(stage / f"shard-{k}", "rb") as f:
                parts[k] = pickle.load(f)
    finally:
        for pid in children:  # only when this process failed
            os.kill(pid, signal.SIGTERM)
            os.waitpid(pid, 0)
    results: list = [None] * len(files)
    for k, (part, failure) in parts.items():
        if failure:
            raise OperationFailed(f"{out}: cannot write: {failure}")
        for i, r in zip(shards[k], part):
            results[i] = r
    return results


def _shard(files, indices, stage: Path, cwd: Path) -> tuple[list, str | None]:
    """Load, validate, render and write the files at INDICES: (results, the first
    write failure or None)."""
    out: list[tuple] = []
    for i in indices:
        spec, errs = read_spec(files[i], cwd)
        if spec is None:
            out.append((errs, None, None))
            continue
        arts = []
        try:
            folder = stage / str(i)
            os.mkdir(folder, 0o755)
            for art in render(spec):
                data = art.text.encode("utf-8")
                _write_file(folder / art.name, data, art.mode)
                arts.append((art.name, hashlib.sha256(data).hexdigest(), art.mode))
        except OSError as e:
            return out, e.strerror or str(e)
        out.append((errs, (spec.kind, spec.name, spec.source), arts))
    return out, None


def _warm() -> None:
    """Import and compile, before forking, what every process would otherwise
    do on its own: the YAML loader, both schema checks, every template."""
    for kind in KINDS:
        fast_check(kind)
    env = environment()
    for path in sorted(template_dir().rglob("*.jinja")):
        env.get_template(path.relative_to(template_dir()).as_posix())


def write_tree(files: dict[str, tuple[str, int]], out: Path) -> None:
    """Write FILES (as render_tree gives them) to OUT, atomically (see _staging)."""
    umask = os.umask(0)
    try:
        with _staging(out) as tmp:
            for folder in sorted({(tmp / rel).parent for rel in files} - {tmp}):
                folder.mkdir(0o755, parents=True, exist_ok=True)
            for rel, (text, mode) in sorted(files.items()):
                _write_file(tmp / rel, text.encode("utf-8"), mode)
    finally:
        os.umask(umask)


@contextmanager
def _staging(out: Path):
    """A temporary folder beside OUT to write the whole tree into; when the block
    ends without error it is swapped in for OUT, otherwise removed: a failed or
    interrupted build (Ctrl-C, SIGTERM, SIGHUP) leaves OUT as it was. OUT must be
    absent, empty, or an earlier build (has manifest.json): sacgen never replaces
    a folder it did not make. A symlink OUT stays one: the build goes to where it
    points. The temporary folders are .OUT.tmp-<pid>-* and .OUT.old-<pid>; those a
    build killed outright (SIGKILL, a crash) left behind, whose process is gone,
    are removed by the next build into OUT. Like any compiler's output the tree is
    not synced to disk (sync(2) would also wait for every other program's writes):
    it is derived from the YAMLs, and a build after a power loss makes it again."""
    out = Path(out)
    real = Path(os.path.realpath(out))
    if real.exists():
        if not real.is_dir():
            raise UsageError(f"{out}: exists and is not a directory")
        if any(real.iterdir()) and not (real / MANIFEST).is_file():
            raise UsageError(f"{out}: not empty and not an earlier sacgen build (no {MANIFEST}); "
                             "refusing to replace it")
    parent = real.parent
    with _signals_end_the_build():
        tmp = old = None
        try:
            parent.mkdir(parents=True, exist_ok=True)
            _remove_stale(parent, real.name)
            with _signals_held():  # tmp is known to the finally below before any signal ends the build
                tmp = Path(tempfile.mkdtemp(prefix=f".{real.name}.tmp-{os.getpid()}-", dir=parent))
            yield tmp
            os.chmod(tmp, 0o755)
            with _signals_held():  # the swap is not cut in two
                if real.exists():
                    old = parent / f".{real.name}.old-{os.getpid()}"
                    os.rename(real, old)
                try:
                    os.rename(tmp, real)
                except OSError:
                    if old is not None:
                        os.rename(old, real)
                        old = None
                    raise
                tmp = None
        except OSError as e:
            raise OperationFailed(f"{out}: cannot write: {e.strerror or e}") from None
        finally:
            with _signals_held():  # a second signal does not cut the cleanup short
                if tmp is not None:
                    shutil.rmtree(tmp, ignore_errors=True)
                if old is not None:
                    shutil.rmtree(old, ignore_errors=True)


_STOPPING = (signal.SIGTERM, signal.SIGHUP)


@contextmanager
def _signals_end_the_build():
    """SIGTERM and SIGHUP raise Terminated (as SIGINT raises KeyboardInterrupt),
    so that the build's temporary folder is removed on the way out. Later ones
    are ignored until then. Only in the main thread, where Python runs handlers."""

    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        for sig in _STOPPING:
            signal.signal(sig, signal.SIG_IGN)
        raise Terminated(signum)

    before = {sig: signal.signal(sig, handler) for sig in _STOPPING}
    try:
        yield
    finally:
        for sig, old in before.items():
            signal.signal(sig, old)


@contextmanager
def _signals_held():
    """SIGINT, SIGTERM and SIGHUP wait (blocked) until the block ends."""
    held = {signal.SIGINT, *_STOPPING}
    before = signal.pthread_sigmask(signal.SIG_BLOCK, held)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, before)


def _remove_stale(parent: Path, name: str) -> None:
    """Remove .NAME.tmp-<pid>-* and .NAME.old-<pid> in PARENT whose process is gone."""
    stale = re.compile(rf"\.{re.escape(name)}\.(?:tmp-([0-9]+)-.+|old-([0-9]+))")
    try:
        entries = list(os.scandir(parent))
    except OSError:
        return
    for entry in entries:
        m = stale.fullmatch(entry.name)
        if m and entry.is_dir(follow_symlinks=False) and not _alive(int(m.group(1) or m.group(2))):
            shutil.rmtree(entry.path, ignore_errors=True)


def _alive(pid: int) -> bool:
    """Is PID a live process other than this one? (Unknown counts as alive.)"""
    if pid == os.getpid():
        return False  # a folder of an earlier process that had this pid
    if pid <= 0:
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (OSError, OverflowError):
        return True
    return True


def _write_file(path: Path, data: bytes, mode: int) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
    finally:
        os.close(fd)


def check_tree(files: dict[str, tuple[str, int]], golden: Path) -> str:
    """A unified diff between the rendered tree and GOLDEN ('' when identical).
    Every file below GOLDEN counts, whatever it holds: one that is not UTF-8 text
    (a stray .DS_Store) or cannot be read is drift like any other, named in one
    line instead of diffed."""
    golden = Path(golden)
    if not golden.is_dir():
        raise UsageError(f"{golden}: no such directory to check against")
    on_disk = {p.relative_to(golden).as_posix() for p in golden.rglob("*") if p.is_file()}
    diff: list[str] = []
    for rel in sorted(set(files) | on_disk):
        path = golden / rel
        shown = f"{golden.as_posix()}/{rel}"
        want = files[rel][0] if rel in files else None
        have: bytes | None = None
        if rel in on_disk:
            try:
                have = path.read_bytes()
            except OSError as e:
                diff.append(f"{shown}: cannot read: {e.strerror or e}\n")
                continue
        if want is not None and have is not None and have == want.encode("utf-8"):
            mode = path.stat().st_mode & 0o777
            if mode != files[rel][1]:
                diff.append(f"mode of {shown}: {mode:04o}, built {files[rel][1]:04o}\n")
            continue
        have_text = _text(have) if have is not None else ""
        if have_text is None:
            if want is not None:
                diff.append(f"{shown}: not UTF-8 text, differs from the build\n")
        else:
            for line in difflib.unified_diff(have_text.splitlines(keepends=True),
                                             (want or "").splitlines(keepends=True), shown, f"(built)/{rel}"):
                diff.append(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n")
        if want is None or have is None:
            side = "only in the build" if have is None else f"only in {golden.as_posix()}"
            diff.append(f"{rel}: {side}\n")
    return "".join(diff)


def _text(data: bytes) -> str | None:
    """DATA as text to diff, or None when it is not UTF-8 text (or holds NUL bytes)."""
    if b"\0" in data:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None
