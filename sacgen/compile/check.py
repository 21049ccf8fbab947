"""Check loaded YAML against the JSON Schema, plus the checks a schema
cannot express (kept here, in one place beside it). Every problem comes out as
FILE:LINE: FIELD.PATH: message, all of a file's problems at once.
"""

from __future__ import annotations

import difflib
import json
import re
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from ..errors import Problem
from . import sbatch
from .model import DEFAULT_RESUBMIT_BEFORE, RESERVATION_JOB_PREFIX, is_name, slurm_time_seconds
from .schemacheck import Unsupported, compile_schema, plain
from .schemas import KINDS, ecma_pattern, format_path, load_schema

if TYPE_CHECKING:
    from .load import Document

# Job resources a tenant must not set: the reservation owns them.
TENANT_FORBIDDEN = ("partition", "account", "qos", "cpus_per_task", "mem", "time_limit",
                    "auto_resubmit", "resubmit_before", "host", "gpus", "gres", "constraint", "nodelist",
                    "exclude", "exclusive", "mail_type", "mail_user", "extra_directives")

# Variables bash will not let a script set: `export UID=...` fails.
READONLY_ENV = ("BASHOPTS", "BASH_VERSINFO", "EUID", "PPID", "SHELLOPTS", "UID")
# Variables bash keeps for itself (checked with bash 5.2; tests/unit/test_inputs.py
# runs the experiments): session.sh's `(NAME=value exec -- agent)` drops them
# silently (BASH_ARGC, BASH_ARGV, BASH_LINENO, BASH_SOURCE, FUNCNAME, GROUPS), or a
# bash that gets them in its environment sets its own value (`env NAME=x bash -c
# 'echo "${NAME-unset}"'` does not print x), or a value from the environment takes
# the place of bash's own state (PIPESTATUS and DIRSTACK stop following pipelines
# and pushd), or bash overwrites it as it runs (BASH_REMATCH, _). Either way the
# value never reaches the agent, or any bash it runs, as written. Not here: IFS (a
# bash ignores an inherited one, other programs get it), PWD (kept when it names
# the current folder) and PS4 (ignored only by a bash run as root).
BASH_OWN_ENV = ("BASH", "BASH_ARGC", "BASH_ARGV", "BASH_COMMAND", "BASH_EXECUTION_STRING", "BASH_LINENO",
                "BASH_REMATCH", "BASH_SOURCE", "BASH_SUBSHELL", "BASH_VERSION", "BASHPID", "COMP_WORDBREAKS",
                "DIRSTACK", "EPOCHREALTIME", "EPOCHSECONDS", "FUNCNAME", "GROUPS", "HISTCMD", "LINENO",
                "OPTERR", "OPTIND", "PIPESTATUS", "RANDOM", "SECONDS", "SHLVL", "SRANDOM", "_")


# Name spaces shared on the cluster: a reservation's job is sac-res-<pool> where an
# agent's is sac-<name>, and a runtime-slurm agent's tmux server (socket) is
# sac-<name> where a reservation's is the tmux_server it names.
AGENT_TMUX_PREFIX = "sac-"


@lru_cache(maxsize=None)
def _validator(kind: str):
    import jsonschema
    from referencing import Registry, Resource

    registry = Registry().with_resources(
        (load_schema(k)["$id"], Resource.from_contents(load_schema(k))) for k in KINDS
    )
    base = jsonschema.validators.validator_for(load_schema(kind))
    cls = jsonschema.validators.extend(base, {"pattern": _pattern})
    return cls(load_schema(kind), registry=registry)


@lru_cache(maxsize=None)
def fast_check(kind: str):
    """compile.schemacheck's predicate for KIND's schema (None if unsupported)."""
    others = {load_schema(k)["$id"]: load_schema(k) for k in KINDS}
    try:
        return compile_schema(load_schema(kind), others)
    except Unsupported:
        return None


def _pattern(validator, pattern, instance, schema):
    """The `pattern` keyword with ECMA-262's `$` (see ecma_pattern)."""
    from jsonschema.exceptions import ValidationError

    if validator.is_type(instance, "string") and not ecma_pattern(pattern).search(instance):
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


def _short(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= 40 else text[:37] + "..."


_NUMBERISH = re.compile(r"[-+]?(?:0[xXoObB][0-9a-fA-F_]*|[0-9][0-9_]*\.?[0-9_]*(?:[eE][-+]?[0-9]+)?"
                        r"|\.[0-9][0-9_]*(?:[eE][-+]?[0-9]+)?)")
_TYPE_NAMES = {"string": "a string", "integer": "an integer", "boolean": "true or false",
               "object": "a mapping", "array": "a list", "number": "a number", "null": "null"}


def _describe_type(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    if value is None:
        return "null"
    return type(value).__name__


def _message(err) -> list[tuple[tuple, str]]:
    """Turn one jsonschema error into (path, message) pairs a person can act on."""
    path = tuple(err.absolute_path)
    schema = err.schema if isinstance(err.schema, dict) else {}
    v = err.validator
    if v == "additionalProperties":
        allowed = sorted(schema.get("properties", {}))
        out = []
        for key in err.instance:
            if key in schema.get("properties", {}):
                continue
            hint = difflib.get_close_matches(str(key), allowed, n=1, cutoff=0.6)
            msg = f"unknown field {str(key)!r}"
            msg += f"; did you mean {hint[0]!r}?" if hint else f"; allowed: {', '.join(allowed)}"
            out.append((path + (key,), msg))
        return out
    if v == "required":
        missing = [k for k in err.validator_value if k not in err.instance]
        return [(path + (k,), "required field is missing") for k in missing]
    if v == "const":
        return [(path, f"must be {err.validator_value!r} (got {_short(err.instance)})")]
    if v == "enum":
        choices = ", ".join(str(c) for c in err.validator_value)
        hint = difflib.get_close_matches(str(err.instance), [str(c) for c in err.validator_value], n=1, cutoff=0.6)
        extra = f"; did you mean {hint[0]!r}?" if hint else ""
        return [(path, f"must be one of: {choices} (got {_short(err.instance)}){extra}")]
    if v == "type":
        if "x-type-error" in schema:
            return [(path, f"{schema['x-type-error']} (got {_describe_type(err.instance)})")]
        want = err.validator_value
        want = [want] if isinstance(want, str) else want
        if (want == ["integer"] and isinstance(err.instance, str) and _NUMBERISH.fullmatch(err.instance)
                and not re.fullmatch(r"-?(?:0|[1-9][0-9]*)", err.instance)):
            # An unquoted 010, 0x10, 1_000 or 4.0, kept as written (compile.load.keep_text).
            return [(path, f"must be a whole number in plain decimal digits, without leading zeros, _, "
                           f"a base prefix or a fraction (got {_short(err.instance)})")]
        names = " or ".join(_TYPE_NAMES.get(w, w) for w in want)
        got = _describe_type(err.instance)
        if err.instance is not None:
            got += f" {_short(err.instance)}"
        return [(path, f"must be {names} (got {got})")]
    if v in ("pattern", "oneOf", "anyOf", "format"):
        if "x-error" in schema:
            return [(path, f"{schema['x-error']} (got {_short(err.instance)})")]
        return [(path, f"invalid value {_short(err.instance)}")]
    if v == "propertyNames":
        return [(path, err.message)]
    if v in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        word = {"minimum": "at least", "maximum": "at most",
                "exclusiveMinimum": "more than", "exclusiveMaximum": "less than"}[v]
        return [(path, f"must be {word} {err.validator_value} (got {_short(err.instance)})")]
    if v in ("minLength", "maxLength"):
        if v == "minLength":
            return [(path, "must not be empty")]
        return [(path, f"is too long ({len(err.instance)} characters; at most {err.validator_value})")]
    if v in ("maxItems", "maxProperties"):
        return [(path, f"has too many entries (at most {err.validator_value})")]
    return [(path, err.message.splitlines()[0])]


def _schema_problems(doc: Document, kind: str) -> list[Problem]:

    fast = fast_check(kind)
    if fast is not None and plain(doc.data) and fast(doc.data):
        return []  # valid; jsonschema would say the same (see compile.schemacheck)
    found: list[tuple[tuple, str, str]] = []  # (path, message, keyword)
    for err in _validator(kind).iter_errors(doc.data):
        if err.validator == "propertyNames":
            # Point at the offending key itself, with the key's own message.
            key = err.instance
            path = tuple(err.absolute_path) + (key,)
            sub = err.schema.get("propertyNames", {}) if isinstance(err.schema, dict) else {}
            found.append((path, f"{sub.get('x-error', 'invalid name')} (got {_short(key)})", "propertyNames"))
            continue
        found.extend((path, msg, err.validator) for path, msg in _message(err))
    # One line per problem: jsonschema reports `required` once per missing field,
    # each error naming them all; and "" fails a field's pattern only for being
    # empty, which "must not be empty" already says.
    empty = {path for path, _, keyword in found if keyword == "minLength"}
    problems: list[Problem] = []
    seen: set = set()
    for path, msg, keyword in found:
        if (path, msg) in seen or (path in empty and keyword == "pattern"):
            continue
        seen.add((path, msg))
        problems.append(Problem(doc.path, doc.line_of(path), format_path(path), msg))
    return problems


# The flags of Claude Code's CLI that sac passes itself when it keeps the
# conversation (claude.session: resume) or records activity (its hooks come
# with --settings); a YAML that set them too would start a second conversation
# or lose sac's hooks. Short forms and `--flag=value` count too.
SESSION_FLAGS = {"--resume": "--resume", "-r": "--resume", "--session-id": "--session-id",
                 "--continue": "--continue", "-c": "--continue", "--fork-session": "--fork-session",
                 "--settings": "--settings"}


def _session_flag(flag: str) -> str | None:
    """The Claude Code flag FLAG spells, if sac owns it."""
    return SESSION_FLAGS.get(flag.partition("=")[0])


def _semantic_problems(doc: Document, kind: str, stem: str, refused: set[str]) -> list[Problem]:
    """Checks the schema cannot express. They run also when the schema found
    problems (REFUSED: the fields it named), each as far as it is safe: a check
    on a field's value skips a field the schema refused (or a value it needs
    that the schema refused: the walltime check needs a valid time_limit); a
    check on names or on which fields are there needs only the mapping."""
    out: list[Problem] = []

    def add(path: tuple, msg: str) -> None:
        out.append(Problem(doc.path, doc.line_of(path), format_path(path) or "(document)", msg))

    def accepted(*paths: tuple) -> bool:
        """Did the schema take these fields (and the mappings they are in)?"""
        return not any(format_path(path[:i]) in refused for path in paths for i in range(1, len(path) + 1))

    data = doc.data
    meta = data.get("metadata")
    meta_name = meta.get("name") if isinstance(meta, dict) else None
    if isinstance(meta_name, str) and accepted(("metadata", "name")) and meta_name != stem:
        add(("metadata", "name"), f"must equal the file's stem {stem!r} (got {meta_name!r})")
    if not is_name(stem):
        add((), f"the file's stem {stem!r} is the {kind.lower()}'s name and must be lowercase letters, digits "
                "and -, starting with a letter, at most 48 characters")
    elif kind == "Agent" and stem.startswith(RESERVATION_JOB_PREFIX):
        pool = stem[len(RESERVATION_JOB_PREFIX):]
        add((), f"an agent's name may not start with 'res-': agent {stem!r} would have "
                f"the SLURM job name sac-{stem}, which is the job of reservation {pool!r} (sac agent "
                f"status and stop would act on that reservation's job)")
    spec = data.get("spec")
    if not isinstance(spec, dict):
        return out

    def directives(where: tuple, fields) -> None:
        """Each extra directive that the schema took: not an option sac or a field owns."""
        words = fields.get("extra_directives") if isinstance(fields, dict) else None
        if not isinstance(words, list) or not accepted(where):
            return
        for i, word in enumerate(words):
            if isinstance(word, str) and accepted(where + (i,)):
                why = sbatch.problem(word, kind)
                if why:
                    add(where + (i,), why)

    if kind == "Reservation":
        directives(("spec", "extra_directives"), spec)
        server = spec.get("tmux_server")
        if isinstance(server, str) and accepted(("spec", "tmux_server")) and server.startswith(AGENT_TMUX_PREFIX):
            agent = server[len(AGENT_TMUX_PREFIX):]
            add(("spec", "tmux_server"), f"may not start with 'sac-': tmux server "
                                         f"{server!r} is the one runtime-slurm agent {agent!r} runs in "
                                         f"(their servers are sac-<name>)")
        if spec.get("persistent") is True and "time" in spec and accepted(("spec", "time"),
                                                                          ("spec", "resubmit_before")):
            lead = spec.get("resubmit_before", DEFAULT_RESUBMIT_BEFORE)
            wall = slurm_time_seconds(spec["time"])
            if lead >= wall:
                add(("spec", "resubmit_before" if "resubmit_before" in spec else "time"),
                    f"resubmit lead {lead} s must be shorter than time {spec['time']!r} ({wall} s)")
        return out
    claude = spec.get("claude")
    if isinstance(claude, dict) and accepted(("spec", "claude")):
        resume = claude.get("session", "new" if "command" in claude else "resume") == "resume"
        if resume or claude.get("activity", "command" not in claude) is True:
            flags = claude.get("flags")
            for i, flag in enumerate(flags if isinstance(flags, list) else ()):
                owned = _session_flag(flag) if isinstance(flag, str) else None
                if owned and (resume or owned == "--settings"):
                    why = ("it keeps the agent's conversation" if owned != "--settings" else "its hooks go there")
                    add(("spec", "claude", "flags", i),
                        f"{flag!r}: sac owns {owned} with claude.session: resume or claude.activity ({why}); "
                        "leave it out, or set claude.session: new and claude.activity: false")
    env = spec.get("env")
    for key in env if isinstance(env, dict) else ():
        if key in READONLY_ENV:
            add(("spec", "env", key), "is a read-only variable in bash; the agent's environment "
                                      "cannot set it")
        elif key in BASH_OWN_ENV:
            add(("spec", "env", key), "is one of bash's own variables (bash sets or drops it "
                                      "itself); the value would not reach the agent as written")
    slurm = spec.get("slurm", {})
    runtime = spec.get("runtime")
    if not isinstance(slurm, dict) or runtime not in ("slurm", "slurm-tenant"):
        return out
    if runtime == "slurm-tenant":
        if "reservation" not in slurm:
            add(("spec", "slurm") if "slurm" in spec else ("spec",),
                "runtime: slurm-tenant requires spec.slurm.reservation")
        for key in TENANT_FORBIDDEN:
            if key in slurm:
                what = "its host is the reservation's" if key == "host" else "the reservation owns the job's resources"
                add(("spec", "slurm", key), f"not allowed for runtime: slurm-tenant ({what}); "
                                            f"set it when booking the reservation")
        return out
    directives(("spec", "slurm", "extra_directives"), slurm)
    if "reservation" in slurm:
        add(("spec", "slurm", "reservation"), "only for runtime: slurm-tenant "
                                              "(runtime: slurm submits its own job)")
    if "time_limit" in slurm and accepted(*(("spec", "slurm", k) for k in ("time_limit", "resubmit_before",
                                                                            "auto_resubmit"))):
        lead = slurm.get("resubmit_before", DEFAULT_RESUBMIT_BEFORE)
        wall = slurm_time_seconds(slurm["time_limit"])
        if slurm.get("auto_resubmit", True) and lead >= wall:
            where = ("spec", "slurm", "resubmit_before" if "resubmit_before" in slurm else "time_limit")
            add(where, f"resubmit lead {lead} s must be shorter than time_limit "
                       f"{slurm['time_limit']!r} ({wall} s); lower resubmit_before or "
                       f"set auto_resubmit: false")
    return out


def check_document(doc: Document, stem: str) -> tuple[str | None, list[Problem]]:
    """Validate one loaded document. Returns (kind, problems)."""
    data = doc.data
    if not isinstance(data, dict):
        return None, [Problem(doc.path, doc.line_of(()), "(document)",
                              f"must be a mapping with apiVersion, kind and spec (got {_describe_type(data)})")]
    kind = data.get("kind")
    if not isinstance(kind, str) or kind not in KINDS:
        if "kind" not in data:
            return None, [Problem(doc.path, doc.line_of(()), "kind",
                                  "required field is missing (Agent or Reservation)")]
        hint = difflib.get_close_matches(str(kind), list(KINDS), n=1, cutoff=0.5)
        extra = f"; did you mean {hint[0]!r}?" if hint else ""
        return None, [Problem(doc.path, doc.line_of(("kind",)), "kind",
                              f"must be Agent or Reservation (got {_short(kind)}){extra}")]
    problems = _schema_problems(doc, kind)
    problems += _semantic_problems(doc, kind, stem, {p.field for p in problems})
    problems.sort(key=lambda p: p.line)
    return kind, problems


class _Unplaced:
    """Data that comes from no file (command-line flags): every field is on line 1."""

    def __init__(self, path: str, data: dict):
        self.path, self.data = path, data

    def line_of(self, path: tuple) -> int:
        return 1


def check_data(data: dict, stem: str, where: str) -> tuple[str | None, list[Problem]]:
    """check_document for DATA that was never a YAML file (WHERE names its origin)."""
    return check_document(_Unplaced(where, data), stem)  # type: ignore[arg-type]
