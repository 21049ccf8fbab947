"""The checked spec: plain immutable records of an Agent or a Reservation, made
from a document that passed every check (compile.check), and what names them."""

from __future__ import annotations

import re
from collections import namedtuple

TYPE_CHECKING = False  # typing itself is not loaded at run time: `sac` calls start quicker
if TYPE_CHECKING:
    from typing import Any

# An agent's or a reservation's name; an agent's may not start with the second
# (sac-res-<pool> is reservation <pool>'s job name, sac-<name> an agent's).
NAME_PATTERN = r"[a-z][a-z0-9-]{0,47}"
RESERVATION_JOB_PREFIX = "res-"


def is_name(text) -> bool:
    return isinstance(text, str) and re.fullmatch(NAME_PATTERN, text) is not None


DEFAULT_COMMAND = "claude"
DEFAULT_RESUBMIT_BEFORE = 3600
DEFAULT_MAX_RESTARTS = 5
DEFAULT_RESTART_DELAY = 10
YAML_SUFFIXES = (".yaml", ".yml")


# The resource fields that agents (spec.slurm) and reservations (spec) share,
# each an sbatch option but extra_directives (a tuple of option words).
RESOURCE_DEFAULTS: dict = dict(gpus=None, gres=None, constraint=None, nodelist=None, exclude=None,
                               exclusive=None, mail_type=None, mail_user=None, extra_directives=())


def _resources(fields: dict) -> dict:
    """The resource fields of FIELDS (spec.slurm, or a reservation's spec)."""
    out = {k: fields.get(k, d) for k, d in RESOURCE_DEFAULTS.items()}
    out["gpus"] = _str_or_none(out["gpus"])
    out["extra_directives"] = tuple(out["extra_directives"])
    return out


def _record(name: str, required: str, **defaults: object) -> Any:
    """An immutable record type (a namedtuple): the REQUIRED fields, then the
    fields with DEFAULTS, in the order given."""
    return namedtuple(name, [*required.split(), *defaults], defaults=tuple(defaults.values()))


class AgentSpec(_record("AgentSpec", "name source runtime model",  # type: ignore[misc]
                        command=DEFAULT_COMMAND, flags=(), env=(), workdir=None, host=None, partition=None,
                        account=None, qos=None, cpus_per_task=None, mem=None, time_limit=None,
                        auto_resubmit=True, resubmit_before=DEFAULT_RESUBMIT_BEFORE, pre_agent=None,
                        reservation=None, session="new", activity=False, restart_policy="on-failure",
                        max_restarts=DEFAULT_MAX_RESTARTS, restart_delay=DEFAULT_RESTART_DELAY,
                        **RESOURCE_DEFAULTS)):
    """runtime: "slurm" or "slurm-tenant"; env: ((KEY, value), ...) in file order;
    session: "resume" (sac keeps the conversation) or "new"; activity: hooks record it."""

    __slots__ = ()
    kind = "Agent"

    @property
    def tenant(self) -> bool:
        return self.runtime == "slurm-tenant"

    @property
    def argv(self) -> tuple:
        """The agent's command line: <command> --model <model> <flags...>."""
        return (self.command, "--model", self.model, *self.flags)


class ReservationSpec(_record("ReservationSpec", "name source host",  # type: ignore[misc]
                              partition=None, account=None, qos=None, cpus=None, mem=None, time=None,
                              tmux_server=None, persistent=False, resubmit_before=DEFAULT_RESUBMIT_BEFORE,
                              hold_body=None, **RESOURCE_DEFAULTS)):
    __slots__ = ()
    kind = "Reservation"


Spec = AgentSpec | ReservationSpec  # either; isinstance() takes it too


def _str_or_none(v):
    return None if v is None else str(v)


def agent_from_data(name: str, source: str, data: dict) -> AgentSpec:
    spec = data["spec"]
    slurm = spec.get("slurm") or {}
    claude = spec.get("claude") or {}
    hooks = slurm.get("hooks") or {}
    restart = spec.get("restart") or {}
    own_program = "command" in claude  # not claude itself: its argv is the YAML's alone, by default
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
        session=claude.get("session", "new" if own_program else "resume"),
        activity=claude.get("activity", not own_program),
        restart_policy=restart.get("policy", "on-failure"),
        max_restarts=restart.get("max_restarts", DEFAULT_MAX_RESTARTS),
        restart_delay=restart.get("delay", DEFAULT_RESTART_DELAY),
        **_resources(slurm),
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
        **_resources(spec),
    )


def slurm_time_seconds(value: int | str) -> int:
    """Seconds in a SLURM time value (already schema-checked)."""
    if isinstance(value, int):
        return value * 60
    days = 0
    text = str(value)
    if "-" in text:
        d, text = text.split("-", 1)
        days = int(d)
        parts = [int(p) for p in text.split(":")]
        h, m, s = (parts + [0, 0])[:3]
        return ((days * 24 + h) * 60 + m) * 60 + s
    parts = [int(p) for p in text.split(":")]
    if len(parts) == 1:
        return parts[0] * 60
    if len(parts) == 2:
        return parts[0] * 60 + parts[1]
    return (parts[0] * 60 + parts[1]) * 60 + parts[2]
