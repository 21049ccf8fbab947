"""Stage 2b: validated YAML -> plain immutable records the renderer consumes."""

from __future__ import annotations

from collections import namedtuple

from .errors import Problem, SpecError

# The YAML loader and the schema check (PyYAML, jsonschema) load on first use:
# `sac agent status NAME` needs neither.
# An agent's or a reservation's name; an agent's may not start with the second
# (sac-res-<pool> is reservation <pool>'s job name, sac-<name> an agent's).
NAME_PATTERN = r"[a-z][a-z0-9-]{0,47}"
RESERVATION_JOB_PREFIX = "res-"


def is_name(text) -> bool:
    import re  # loaded already by argparse and the YAML loader

    return isinstance(text, str) and re.fullmatch(NAME_PATTERN, text) is not None


DEFAULT_COMMAND = "claude"
DEFAULT_RESUBMIT_BEFORE = 3600
YAML_SUFFIXES = (".yaml", ".yml")
MAX_BYTES = 256 * 1024  # of one YAML file


def _record(name: str, required: str, **defaults) -> type:
    """An immutable record type (a namedtuple): the REQUIRED fields, then the
    fields with DEFAULTS, in the order given."""
    return namedtuple(name, [*required.split(), *defaults], defaults=tuple(defaults.values()))


class AgentSpec(_record("AgentSpec", "name source runtime model",
                        command=DEFAULT_COMMAND, flags=(), env=(), workdir=None, host=None, partition=None,
                        account=None, qos=None, cpus_per_task=None, mem=None, time_limit=None,
                        auto_resubmit=True, resubmit_before=DEFAULT_RESUBMIT_BEFORE, pre_agent=None,
                        reservation=None)):
    """runtime: "slurm" or "slurm-tenant"; env: ((KEY, value), ...) in file order."""

    __slots__ = ()
    kind = "Agent"

    @property
    def tenant(self) -> bool:
        return self.runtime == "slurm-tenant"

    @property
    def argv(self) -> tuple:
        """The agent's command line: <command> --model <model> <flags...>."""
        return (self.command, "--model", self.model, *self.flags)


class ReservationSpec(_record("ReservationSpec", "name source host",
                              partition=None, account=None, qos=None, cpus=None, mem=None, time=None,
                              tmux_server=None, persistent=False, resubmit_before=DEFAULT_RESUBMIT_BEFORE,
                              hold_body=None)):
    __slots__ = ()
    kind = "Reservation"


Spec = (AgentSpec, ReservationSpec)  # either; also usable with isinstance()


def _str_or_none(v):
    return None if v is None else str(v)


def agent_from_data(name: str, source: str, data: dict) -> AgentSpec:
    spec = data["spec"]
    slurm = spec.get("slurm") or {}
    claude = spec.get("claude") or {}
    hooks = slurm.get("hooks") or {}
    return AgentSpec(
        name=name,
        source=source,
        runtime=spec["runtime"],
        model=spec["model"],
        command=claude.get("command", DEFAULT_COMMAND),
        flags=tuple(claude.get("flags", ())),
        env=tuple((k, str(v)) for k, v in (spec.get("env") or {}).items()),
        workdir=spec.get("workdir"),
        host=slurm.get("host"),
        partition=slurm.get("partition"),
        account=slurm.get("account"),
        qos=slurm.get("qos"),
        cpus_per_task=slurm.get("cpus_per_task"),
        mem=slurm.get("mem"),
        time_limit=_str_or_none(slurm.get("time_limit")),
        auto_resubmit=slurm.get("auto_resubmit", True),
        resubmit_before=slurm.get("resubmit_before", DEFAULT_RESUBMIT_BEFORE),
        pre_agent=hooks.get("pre_agent"),
        reservation=slurm.get("reservation"),
    )


def reservation_from_data(name: str, source: str, data: dict) -> ReservationSpec:
    spec = data["spec"]
    return ReservationSpec(
        name=name,
        source=source,
        host=spec["host"],
        partition=spec.get("partition"),
        account=spec.get("account"),
        qos=spec.get("qos"),
        cpus=spec.get("cpus"),
        mem=spec.get("mem"),
        time=_str_or_none(spec.get("time")),
        tmux_server=spec.get("tmux_server"),
        persistent=spec.get("persistent", False),
        resubmit_before=spec.get("resubmit_before", DEFAULT_RESUBMIT_BEFORE),
        hold_body=spec.get("hold_body"),
    )


def read_input(path, where: str) -> tuple[bytes | None, list[Problem]]:
    """The bytes of the YAML file at PATH (shown as WHERE), or its problem: not a
    regular file (a device such as /dev/zero, a FIFO, a socket: they are refused
    before they are opened, so nothing blocks), or larger than MAX_BYTES (read no
    further than one byte past the limit, whatever the file says of its size)."""
    import os
    import stat

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


def read_spec(path: Path, cwd: Path | None = None, cached: bool = False) -> tuple[Spec | None, list[Problem]]:
    """The validated spec of one file, or its problems. cached: a file whose
    bytes were validated before (by this sacgen, under the same name) is taken
    from $SAC_HOME/cache without loading the YAML and schema stack."""
    where = display_path(path, cwd)
    if cached:
        from .cache import spec as cached_spec

        hit = cached_spec(path, where, lambda raw: _read_spec_bytes(raw, path.stem, where))
        if hit is not None:
            return hit
    from .loader import load_yaml

    doc, problems = load_yaml(path, where)
    return _checked(doc, problems, path.stem, where)


def _read_spec_bytes(raw: bytes, stem: str, where: str) -> tuple[Spec | None, list[Problem]]:
    from .loader import load_yaml_bytes

    doc, problems = load_yaml_bytes(raw, where)
    return _checked(doc, problems, stem, where)


def _checked(doc, problems: list[Problem], stem: str, where: str) -> tuple[Spec | None, list[Problem]]:
    from .schema import check_document

    if doc is None:
        return None, problems
    kind, problems = check_document(doc, stem)
    if problems:
        return None, problems
    if kind == "Agent":
        return agent_from_data(stem, where, doc.data), []
    return reservation_from_data(stem, where, doc.data), []


def expand_paths(paths: list[str]) -> list[Path]:
    """Files as given; directories searched (sorted) for *.yaml / *.yml. A path
    that does not exist and a directory without such files are errors (all of
    them, at once)."""
    from pathlib import Path  # here: `sac` calls on known agents never need it

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


def load_specs(paths: list[str], cached: bool = False) -> list[Spec]:
    """Read and validate every file; raise SpecError with every problem of every
    file. cached: see read_spec (sac uses it; sacgen build always validates)."""
    from pathlib import Path

    cwd = Path.cwd().resolve()
    results = [read_spec(path, cwd, cached) for path in expand_paths(paths)]
    keep, problems = select(
        (errs, None if spec is None else (spec.kind, spec.name, spec.source)) for spec, errs in results)
    if problems:
        raise SpecError(problems)
    return [results[i][0] for i in keep]


def select(results) -> tuple[list[int], list[Problem]]:
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
