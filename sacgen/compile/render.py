"""A checked spec -> the artifacts (name, text, mode) that run on the cluster.

One Jinja template per artifact under templates/. The environment is strict
(StrictUndefined) and quotes every printed value through compile.shell.finalize,
so a template cannot put an unquoted value into a script.
"""

from __future__ import annotations

import os
import re
import shutil
from collections import namedtuple
from functools import lru_cache

import jinja2

from .. import __version__
from ..paths import cache_folder, fingerprint, private, template_dir
from . import bashlib, sbatch, shell
from .model import AgentSpec, ReservationSpec, Spec, slurm_time_seconds


class Artifact(namedtuple("Artifact", "name text mode", defaults=(0o755,))):
    """name: the file name inside OUT/<spec name>/."""

    __slots__ = ()


def _number(value) -> shell.Shell:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{value!r} is not an integer")
    return shell.Shell(str(value))


def _template_bytecode() -> jinja2.BytecodeCache | None:
    """A Jinja bytecode cache in $SAC_HOME/cache/jinja-<version>-<fingerprint>
    (compiling the templates takes ~35 ms of every process that renders; loading
    them compiled, ~3 ms), or None: SAC_CACHE=0, or a cache folder that is not
    private to this user (what is in it is run). Keyed by Jinja's version and
    sacgen's fingerprint, since Jinja keys compiled code by the template's source
    only, not by the environment sacgen configures; the folders of other keys are
    removed."""
    folder = cache_folder()
    if folder is None:
        return None

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

    here = f"jinja-{jinja2.__version__}-{fingerprint()[:24]}"
    path = os.path.join(folder, here)
    try:
        if not os.path.isdir(path):
            for e in os.scandir(folder):
                if e.name.startswith("jinja-") and e.name != here:
                    shutil.rmtree(e.path, ignore_errors=True)
            os.makedirs(path, mode=0o700, exist_ok=True)
    except OSError:
        return None
    return Quiet(path) if private(path) else None


@lru_cache(maxsize=None)
def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(template_dir())),
        undefined=jinja2.StrictUndefined,
        finalize=shell.finalize,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,
        # The templates do not change while sacgen runs: no stat() per render.
        auto_reload=False,
        bytecode_cache=_template_bytecode(),
    )
    env.filters.update(
        words=shell.words,
        directive=shell.directive,
        directive_option=shell.directive_option,
        sbatch_overrides=lambda spec: shell.idents(sbatch.overridden_env(spec)),
        ident=shell.ident,
        comment=shell.comment,
        heredoc=shell.heredoc,
        home=shell.home_path,
        program=shell.program,
        number=_number,
    )
    env.globals["version"] = __version__
    # The shared fragments (templates/fragments/NAME.jinja, one macro NAME each)
    # are macros whose output is shell text already; `h.NAME()` returns it marked
    # as such. `h.lib()` is where the helpers a script calls go (compile.bashlib).
    env.globals["h"] = _Fragments(env)
    return env


# What h.lib() prints: no value can contain it (shell.word refuses NUL bytes).
_LIBRARY_MARK = shell.Shell("\x00sac-helpers\x00")


class _Fragments:
    """The macros of templates/fragments as functions returning Shell text. A
    macro called without arguments (resubmit, hold ...) gives the same text every
    time: it is rendered once per process."""

    def __init__(self, env):
        self._env = env
        self._fixed: dict[str, shell.Shell] = {}
        self._sections: dict[str, str] = {}  # template -> its helper section

    def _macro(self, name: str):
        return getattr(self._env.get_template(f"fragments/{name}.jinja").module, name)

    def __getattr__(self, name):
        if name.startswith("_"):
            raise AttributeError(name)

        def call(*args, **kwargs):
            if name == "lib":
                # A mark, replaced by prune() with the helpers this script calls.
                return _LIBRARY_MARK
            if args or kwargs:
                return shell.Shell(self._macro(name)(*args, **kwargs))
            if name not in self._fixed:
                self._fixed[name] = shell.Shell(self._macro(name)())
            return self._fixed[name]
        return call

    def prune(self, text: str, template: str) -> str:
        """TEXT, rendered from TEMPLATE, with its helper section (at h.lib()): the
        files of templates/lib that the template calls, directly, through the
        fragments it uses, or through each other (compile.bashlib). Every script
        still runs on its own, without carrying helpers it never uses. Which
        helpers a script gets depends on its template alone, never on the values
        in it."""
        if _LIBRARY_MARK not in text:
            return text
        if template not in self._sections:
            lib = bashlib.library()
            self._sections[template] = lib.section(lib.closure(self._source(template)))
        return text.replace(_LIBRARY_MARK, self._sections[template], 1)

    def _source(self, template: str) -> str:
        """The source of TEMPLATE and of the fragments it uses."""
        loader = self._env.loader
        source = loader.get_source(self._env, template)[0]
        used = sorted(set(re.findall(r"\bh\.(\w+)\(", source)) - {"lib"})
        return "\n".join([source, *(loader.get_source(self._env, f"fragments/{name}.jinja")[0] for name in used)])


def _render(template: str, **context) -> str:
    env = environment()
    text = env.get_template(template).render(template_name=template, **context)
    fragments: _Fragments = env.globals["h"]  # type: ignore[assignment]
    text = fragments.prune(text, template)
    return text if text.endswith("\n") else text + "\n"


def render_session(spec: AgentSpec) -> str:
    return _render("session.sh.jinja", spec=spec)


def render_sbatch_wrapper(spec: AgentSpec) -> str:
    # The walltime in seconds, when the spec sets it (else the partition's, unknown here).
    walltime = slurm_time_seconds(spec.time_limit) if spec.time_limit is not None else None
    return _render("agent-slurm/job.sbatch.jinja", spec=spec, walltime=walltime)


def render_reservation_sbatch(spec: ReservationSpec) -> str:
    return _render("reservation/reservation.sbatch.jinja", spec=spec)


AGENT_SCRIPTS = ("start.sh", "status.sh", "attach.sh", "logs.sh", "stop.sh", "send.sh")


def _agent_folder(spec: AgentSpec) -> str:
    return "agent-tenant" if spec.tenant else "agent-slurm"


def render_agent(spec: AgentSpec) -> list[Artifact]:
    session = render_session(spec)
    out = []
    folder = _agent_folder(spec)
    if spec.tenant:
        context = dict(spec=spec, session_sh=session)
    else:
        job = render_sbatch_wrapper(spec)
        context = dict(spec=spec, session_sh=session, job_sbatch=job)
        out.append(Artifact("job.sbatch", job))
    out.append(Artifact("session.sh", session))
    for name in AGENT_SCRIPTS:
        out.append(Artifact(name, _render(f"{folder}/{name}.jinja", **context)))
    return sorted(out, key=lambda a: a.name)


# book.sh is rendered with the others (it carries reservation.sbatch).
RESERVATION_SCRIPTS = ("book.sh", "status.sh", "release.sh", "exec.sh", "attach.sh")


def render_reservation(spec: ReservationSpec) -> list[Artifact]:
    script = render_reservation_sbatch(spec)
    hold_body = spec.hold_body
    if hold_body is not None and not hold_body.endswith("\n"):
        hold_body += "\n"
    context = dict(spec=spec, reservation_sbatch=script, hold_body=hold_body)
    out = [Artifact("reservation.sbatch", script)]
    for name in RESERVATION_SCRIPTS:
        out.append(Artifact(name, _render(f"reservation/{name}.jinja", **context)))
    return sorted(out, key=lambda a: a.name)


def render_launch_queue() -> str:
    """The step that launches every queued tenant of a `start --all` batch."""
    return _render("agent-tenant/launch-queue.sh.jinja")


def render_stop_queue() -> str:
    """The step that stops every queued tenant of a `stop --all` batch."""
    return _render("agent-tenant/stop-queue.sh.jinja")


def render_snapshot_cleanup() -> str:
    return _render("snapshot-cleanup.sh.jinja")


def render_snapshot_prefetch() -> str:
    """The step that lists the panes of every job of a status batch at once."""
    return _render("snapshot-prefetch.sh.jinja")


# The scripts of a batch rather than of one spec (a step of their own in a connection).
BATCH_HELPERS = {"launch-queue.sh": render_launch_queue, "stop-queue.sh": render_stop_queue,
                 "snapshot-cleanup.sh": render_snapshot_cleanup, "snapshot-prefetch.sh": render_snapshot_prefetch}

# The artifacts whose templates include the text of others (here-documents).
_NEEDS_ALL = {"start.sh", "book.sh"}


def render_artifact(spec: Spec | None, name: str) -> str:
    """The text of one artifact, exactly as render() makes it, rendering only the
    templates it needs. spec None: one of the BATCH_HELPERS."""
    if spec is None:
        return BATCH_HELPERS[name]()
    if name in _NEEDS_ALL:
        for art in render(spec):
            if art.name == name:
                return art.text
        raise KeyError(name)
    if isinstance(spec, AgentSpec):
        if name == "session.sh":
            return render_session(spec)
        if name == "job.sbatch" and not spec.tenant:
            return render_sbatch_wrapper(spec)
        if name in AGENT_SCRIPTS:
            return _render(f"{_agent_folder(spec)}/{name}.jinja", spec=spec)
    else:
        if name == "reservation.sbatch":
            return render_reservation_sbatch(spec)
        if name in RESERVATION_SCRIPTS and name not in _NEEDS_ALL:
            return _render(f"reservation/{name}.jinja", spec=spec)
    raise KeyError(name)


def render(spec: Spec) -> list[Artifact]:
    if isinstance(spec, AgentSpec):
        return render_agent(spec)
    return render_reservation(spec)
