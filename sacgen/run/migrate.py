"""`sac agent migrate FILE --reservation POOL`: turn a runtime-slurm agent into a
tenant of a booked reservation, in place, keeping comments and the other fields.

The slurm: block is replaced by `reservation: POOL` (a pre_agent hook is kept:
tenants source it in their session). The reservation must fit the agent.
The file is edited as text, block or flow style alike, so comments and line
endings stay; the result is checked (schema, and that it says what the old file
said, as a tenant) before it replaces the file.
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from ..compile.check import check_document
from ..compile.load import load_yaml_bytes
from ..compile.model import AgentSpec, slurm_time_seconds
from ..compile.source import display_path
from ..compile.specs import load_specs
from ..errors import OperationFailed, SpecError, UsageError
from ..files import atomic_write
from .registry import Registry

KEEP = ("hooks",)


def mem_mb(text: str) -> float:
    unit = text[-1] if text[-1] in "KMGT" else "M"
    number = float(text[:-1] if text[-1] in "KMGT" else text)
    return number * {"K": 1 / 1024, "M": 1, "G": 1024, "T": 1024 * 1024}[unit]


def walltime(value) -> str:
    """A SLURM time value with its unit: `10` is 10 min, `1:30` 90 s."""
    seconds = slurm_time_seconds(value)
    return f"{seconds // 60} min" if seconds % 60 == 0 else f"{seconds} s"


def gres_counts(gres: str | None, gpus=None) -> dict[tuple[str, str | None], int]:
    """{(name, type or None): count} of a schema-checked `gres` list and `gpus`
    value (gpus: N or TYPE:N, GPUs of the whole job; gres: per node, COUNT 1 when
    left out). A count with a unit (mps:100K) is multiplied out."""
    out: dict[tuple[str, str | None], int] = {}

    def count(text: str) -> int:
        unit = {"K": 1024, "M": 1024 ** 2, "G": 1024 ** 3, "T": 1024 ** 4}.get(text[-1:], 1)
        return int(text[:-1] if unit > 1 else text) * unit

    for item in gres.split(",") if gres else ():
        name, *rest = item.split(":")
        n = count(rest.pop()) if rest and re.fullmatch(r"[1-9][0-9]*[KMGT]?", rest[-1]) else 1
        kind = rest[0] if rest else None
        out[(name, kind)] = out.get((name, kind), 0) + n
    if gpus is not None:
        gpu_type, _, gpu_count = str(gpus).rpartition(":")
        key = ("gpu", gpu_type or None)
        out[key] = max(out.get(key, 0), int(gpu_count))
    return out


def _gres_text(name: str, kind: str | None, n: int) -> str:
    return f"{name}:{kind}:{n}" if kind else f"{name}:{n}"


def resource_problems(agent: AgentSpec, spec: dict) -> list[str]:
    """GPUs (and other GRES) and node features the agent asks for that the
    reservation SPEC (its registry record) does not have. A typed need is met
    only by that type; an untyped one by any type. Constraints are compared as
    written (an expression cannot be decided without the cluster's nodes)."""
    out = []
    need = gres_counts(agent.gres, agent.gpus)
    have = gres_counts(spec.get("gres"), spec.get("gpus"))
    for (name, kind), n in sorted(need.items(), key=str):
        got = sum(c for (hn, hk), c in have.items() if hn == name and (kind is None or hk == kind))
        if got < n:
            what = f"{n} {name}" + (f" of type {kind}" if kind else "")
            offer = ", ".join(_gres_text(*k, c) for k, c in sorted(have.items(), key=str)) or "none"
            out.append(f"needs {what} (GRES), the reservation has {offer}")
    if agent.constraint and agent.constraint != spec.get("constraint"):
        theirs = spec.get("constraint")
        out.append(f"needs nodes with constraint {agent.constraint}, the reservation's are "
                   + (f"{theirs}" if theirs else "not constrained"))
    return out


def fit_problems(agent: AgentSpec, res: dict) -> list[str]:
    spec = res.get("spec") or {}
    out = resource_problems(agent, spec)
    if agent.cpus_per_task and spec.get("cpus") and agent.cpus_per_task > spec["cpus"]:
        out.append(f"needs {agent.cpus_per_task} CPUs, the reservation has {spec['cpus']}")
    if agent.mem and spec.get("mem") and mem_mb(agent.mem) > mem_mb(spec["mem"]):
        out.append(f"needs {agent.mem} of memory, the reservation has {spec['mem']}")
    if agent.partition and spec.get("partition") and agent.partition != spec["partition"]:
        out.append(f"runs in partition {agent.partition}, the reservation in {spec['partition']}")
    if (agent.time_limit and spec.get("time") and not spec.get("persistent")
            and slurm_time_seconds(agent.time_limit) > slurm_time_seconds(spec["time"])):
        out.append(f"needs {walltime(agent.time_limit)} of walltime, the reservation has "
                   f"{walltime(spec['time'])} and is not persistent")
    return out


# ----------------------------------------------------------------------------- the text edit
# Positions are character offsets into the text (PyYAML's mark.index).

def line_start(text: str, i: int) -> int:
    return text.rfind("\n", 0, i) + 1


def line_end(text: str, i: int) -> int:
    """Offset just past the line break of the line holding offset I (or the end of the text)."""
    end = text.find("\n", i)
    return len(text) if end < 0 else end + 1


def node_end(node: yaml.Node) -> int:
    """Offset just past NODE's last character. (A block collection's own end
    mark is where the next token starts, after any comment lines.)"""
    while isinstance(node, (yaml.MappingNode, yaml.SequenceNode)) and not node.flow_style and node.value:
        node = node.value[-1][1] if isinstance(node, yaml.MappingNode) else node.value[-1]
    return node.end_mark.index


def entry_lines(text: str, key: yaml.Node, value: yaml.Node, floor: int) -> tuple[int, int]:
    """The whole lines of a block mapping entry, with the comment lines just
    above it (not above FLOOR)."""
    start = line_start(text, key.start_mark.index)
    while start > floor:
        above = line_start(text, start - 1)
        if not text[above:start].lstrip().startswith("#"):
            break
        start = above
    return start, line_end(text, node_end(value) - 1)


def rewrite(text: str, pool: str) -> str:
    """TEXT with runtime: slurm-tenant and spec.slurm reduced to `reservation:
    POOL` and the entries of KEEP (a slurm: block is added if there is none)."""
    nl = "\r\n" if "\r\n" in text else "\n"
    root = yaml.compose(text, Loader=yaml.SafeLoader)
    assert root is not None  # checked() loaded it already
    spec_key, spec = next((k, v) for k, v in root.value if k.value == "spec")
    pairs = {k.value: (k, v) for k, v in spec.value}
    edits = []  # (start, end, replacement) offsets into the text, not overlapping

    runtime = pairs["runtime"][1]
    old = text[runtime.start_mark.index:runtime.end_mark.index]
    new = old[0] + "slurm-tenant" + old[-1] if old[0] in "'\"" else "slurm-tenant"
    edits.append((runtime.start_mark.index, runtime.end_mark.index, new))

    if "slurm" not in pairs:
        last = spec.value[-1][1]
        if spec.flow_style:
            at = node_end(last)
            edits.append((at, at, f", slurm: {{reservation: {pool}}}"))
        else:
            column = spec.value[0][0].start_mark.column
            indent, inner = " " * column, " " * (2 * column - spec_key.start_mark.column)
            at = line_end(text, node_end(last) - 1)
            before = "" if text[:at].endswith("\n") else nl
            edits.append((at, at, f"{before}{indent}slurm:{nl}{inner}reservation: {pool}{nl}"))
    else:
        slurm_key, slurm = pairs["slurm"]
        keep = [(k, v) for k, v in slurm.value if k.value in KEEP]
        if slurm.flow_style:
            kept = "".join(f", {text[k.start_mark.index:node_end(v)]}" for k, v in keep)
            edits.append((slurm.start_mark.index, slurm.end_mark.index, f"{{reservation: {pool}{kept}}}"))
        else:
            block_start = line_end(text, slurm_key.end_mark.index)
            block_end = line_end(text, node_end(slurm) - 1)
            indent = " " * slurm.value[0][0].start_mark.column
            kept = "".join(text[slice(*entry_lines(text, k, v, block_start))] for k, v in keep)
            edits.append((block_start, block_end, f"{indent}reservation: {pool}{nl}{kept}"))

    for start, end, new in sorted(edits, reverse=True):
        text = text[:start] + new + text[end:]
    return text


def tenant_of(data: dict, pool: str) -> dict:
    """What a migrated file must load as: DATA, a runtime-slurm Agent, as a tenant of POOL."""
    spec = dict(data["spec"], runtime="slurm-tenant")
    old = spec.get("slurm") or {}
    spec["slurm"] = {"reservation": pool, **{k: old[k] for k in KEEP if k in old}}
    return dict(data, spec=spec)


def checked(raw: bytes, where: str, stem: str, note: str = "") -> dict:
    """The data of RAW, a schema-valid document, else SpecError naming WHERE
    (NOTE added to each problem)."""
    doc, problems = load_yaml_bytes(raw, where)
    if doc is not None:
        _, problems = check_document(doc, stem)
    if problems or doc is None:
        raise SpecError([p._replace(message=p.message + note) for p in problems])
    return doc.data


# ----------------------------------------------------------------------------- the command

def migrate(file: str, pool: str) -> str:
    path = Path(file)
    if path.is_dir():
        raise UsageError(f"{file}: is a directory; migrate takes one agent YAML file")
    (spec,) = load_specs([file])
    if not isinstance(spec, AgentSpec):
        raise UsageError(f"{file}: is not an Agent")
    if spec.tenant:
        raise UsageError(f"{file}: is already runtime: slurm-tenant (reservation {spec.reservation})")
    res = Registry().read()["reservations"].get(pool)
    if res is None:
        raise OperationFailed(f"reservation '{pool}' is not known here; book it first "
                              f"(sac reservations book {pool} --host HOST --tmux-server sac), or adopt one "
                              f"booked elsewhere with `sac reservations refresh {pool} --host HOST`")
    problems = fit_problems(spec, res)
    if problems:
        raise OperationFailed(f"{file}: reservation '{pool}' does not fit the agent: " + "; ".join(problems))

    target = path.resolve()  # a symlink is written through: the link stays
    raw = target.read_bytes()
    where = display_path(path)
    old = checked(raw, where, path.stem)
    new = rewrite(raw.decode("utf-8"), pool).encode("utf-8")
    if checked(new, where, path.stem, " (in the migrated text; the file is unchanged)") != tenant_of(old, pool):
        raise UsageError(f"{where}: cannot migrate this YAML layout (an alias or a merge key?); edit it by hand")
    write_atomically(target, new, where)
    if spec.name not in Registry().read()["agents"]:
        return f"{file}: now runtime: slurm-tenant in reservation {pool}. Next: `sac agent start {file}`"
    return (f"{file}: now runtime: slurm-tenant in reservation {pool}. Next: `sac agent stop {spec.name}` "
            f"(it stops the agent's job, as it was started), then `sac agent start {file}`")


def write_atomically(target: Path, data: bytes, where: str) -> None:
    """Replace TARGET by DATA with the same mode, never leaving it torn."""
    try:
        atomic_write(target, data, mode=None)
    except OSError as e:
        raise OperationFailed(f"cannot write {where}: {e.strerror or e}; nothing was changed") from None
