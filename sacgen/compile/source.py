"""The input of the compile stage: which YAML files PATHS name, the bytes of
each (read with care), the path each is shown by in every message about it, and
the reading of them all into specs, every problem of every file at once."""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Iterable
from pathlib import Path

from ..errors import Problem, SpecError
from .model import YAML_SUFFIXES, Spec

MAX_BYTES = 256 * 1024  # of one YAML file

Reader = Callable[[Path, "Path | None"], "tuple[Spec | None, list[Problem]]"]


def read_input(path, where: str) -> tuple[bytes | None, list[Problem]]:
    """The bytes of the YAML file at PATH (shown as WHERE), or its problem: not a
    regular file (a device such as /dev/zero, a FIFO, a socket: they are refused
    before they are opened, so nothing blocks), or larger than MAX_BYTES (read no
    further than one byte past the limit, whatever the file says of its size)."""
    def problem(message: str) -> tuple[None, list[Problem]]:
        return None, [Problem(where, 1, "", message)]

    try:
        mode = os.stat(path).st_mode
        if stat.S_ISREG(mode):
            fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as e:
        return problem(f"cannot read file: {e.strerror or e}")
    if not stat.S_ISREG(mode):
        what = ("a directory" if stat.S_ISDIR(mode) else "a character device" if stat.S_ISCHR(mode) else
                "a block device" if stat.S_ISBLK(mode) else "a FIFO" if stat.S_ISFIFO(mode) else
                "a socket" if stat.S_ISSOCK(mode) else "not a file")
        return problem(f"not a regular file ({what}); expected a YAML file")
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):  # replaced since the stat
            return problem("not a regular file; expected a YAML file")
        if st.st_size > MAX_BYTES:
            return problem(f"file is {st.st_size} bytes; an agent YAML may be at most {MAX_BYTES}")
        chunks, size = [], 0
        while size <= MAX_BYTES:
            chunk = os.read(fd, MAX_BYTES + 1 - size)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    except OSError as e:
        return problem(f"cannot read file: {e.strerror or e}")
    finally:
        os.close(fd)
    if size > MAX_BYTES:
        return problem(f"file is more than {MAX_BYTES} bytes; an agent YAML may be at most {MAX_BYTES}")
    return b"".join(chunks), []


def display_path(path: Path, cwd: Path | None = None) -> str:
    """The path as the user should read it: relative to the cwd (resolved, CWD
    if given) when below it."""
    if not path.is_absolute() and ".." not in path.parts:
        return path.as_posix()  # as the user gave it (no file system calls)
    try:
        return path.resolve().relative_to(cwd or type(path).cwd().resolve()).as_posix()
    except ValueError:
        return path.as_posix()


def expand_paths(paths: list[str]) -> list[Path]:
    """Files as given; directories searched (sorted) for *.yaml / *.yml. A path
    that does not exist and a directory without such files are errors (all of
    them, at once)."""
    out: list[Path] = []
    problems: list[Problem] = []
    for p in paths:
        path = Path(p)
        if path.is_dir():
            # Every entry named *.yaml or *.yml but a folder: a dangling link,
            # a FIFO or a device is reported when read, not skipped in silence.
            found = sorted(f for f in path.rglob("*") if f.suffix in YAML_SUFFIXES and not f.is_dir())
            if not found:  # a folder given by mistake must not pass, or build an empty tree
                problems.append(Problem(p, None, "", "no .yaml or .yml files"))
            out.extend(found)
        elif path.exists():
            out.append(path)
        else:
            problems.append(Problem(p, None, "", "no such file or directory"))
    if problems:
        raise SpecError(problems)
    return out


def read_all(paths: list[str], read: Reader) -> list[Spec]:
    """The specs of every file PATHS name (folders searched), each read and
    validated by READ (compile.specs.read_spec, or run.cache's cached reader);
    raise SpecError with every problem of every file."""
    cwd = Path.cwd().resolve()
    results = [read(path, cwd) for path in expand_paths(paths)]
    keep, problems = select(
        (errs, None if spec is None else (spec.kind, spec.name, spec.source)) for spec, errs in results)
    if problems:
        raise SpecError(problems)
    return [spec for i in keep if (spec := results[i][0]) is not None]


def select(results: Iterable) -> tuple[list[int], list[Problem]]:
    """RESULTS, one (problems, (kind, name, source) or None) per file in order ->
    the indices of the specs to keep and every problem, in file order. The same
    file named twice counts once; a (kind, name) defined by two files is a problem
    of the second. (Agents and reservations have separate name spaces on the cluster.)"""
    keep: list[int] = []
    problems: list[Problem] = []
    seen: dict[tuple, str] = {}
    for i, (errs, meta) in enumerate(results):
        problems.extend(errs)
        if meta is None:
            continue
        kind, name, source = meta
        if (kind, name) in seen:
            if seen[kind, name] != source:
                problems.append(Problem(source, 1, "(document)",
                                        f"{kind.lower()} name {name!r} is also defined in {seen[kind, name]}"))
            continue
        seen[kind, name] = source
        keep.append(i)
    return keep, problems
