"""`sac agent migrate FILE --reservation POOL`: turn a runtime-slurm agent into a
tenant of a booked reservation, in place, keeping comments and the other fields.

The slurm: block is replaced by `reservation: POOL` (a pre_agent hook is kept:
tenants source it in their session). The reservation must fit the agent.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import yaml

from .errors import OperationFailed, UsageError
from .registry import Registry
from .schema import slurm_time_seconds
from .spec import AgentSpec, load_specs

KEEP = ("hooks",)


def mem_mb(text: str) -> float:
    unit = text[-1] if text[-1] in "KMGT" else "M"
    number = float(text[:-1] if text[-1] in "KMGT" else text)
    return number * {"K": 1 / 1024, "M": 1, "G": 1024, "T": 1024 * 1024}[unit]


def fit_problems(agent: AgentSpec, res: dict) -> list[str]:
    spec = res.get("spec") or {}
    out = []
    if agent.cpus_per_task and spec.get("cpus") and agent.cpus_per_task > spec["cpus"]:
        out.append(f"needs {agent.cpus_per_task} CPUs, the reservation has {spec['cpus']}")
    if agent.mem and spec.get("mem") and mem_mb(agent.mem) > mem_mb(spec["mem"]):
        out.append(f"needs {agent.mem} of memory, the reservation has {spec['mem']}")
    if agent.partition and spec.get("partition") and agent.partition != spec["partition"]:
        out.append(f"runs in partition {agent.partition}, the reservation in {spec['partition']}")
    if (agent.time_limit and spec.get("time") and not spec.get("persistent")
            and slurm_time_seconds(agent.time_limit) > slurm_time_seconds(spec["time"])):
        out.append(f"needs {agent.time_limit} of walltime, the reservation has {spec['time']} and is not persistent")
    return out


def rewrite(text: str, pool: str) -> str:
    root = yaml.compose(text, Loader=yaml.SafeLoader)
    spec_node = next(v for k, v in root.value if k.value == "spec")
    pairs = {k.value: (k, v) for k, v in spec_node.value}
    lines = text.splitlines(keepends=True)
    edits = []  # (start_index, end_index, replacement) on the text

    runtime = pairs["runtime"][1]
    edits.append((runtime.start_mark.index, runtime.end_mark.index, "slurm-tenant"))
    slurm_key, slurm = pairs["slurm"]
    if isinstance(slurm, yaml.MappingNode) and not slurm.flow_style and slurm.value:
        indent = " " * slurm.value[0][0].start_mark.column
        keep = []
        children = slurm.value
        for i, (k, v) in enumerate(children):
            if k.value not in KEEP:
                continue
            first = k.start_mark.line
            last = children[i + 1][0].start_mark.line if i + 1 < len(children) else (
                v.end_mark.line if v.end_mark.column == 0 else v.end_mark.line + 1)
            keep.extend(lines[first:last])
        block_start = sum(len(ln) for ln in lines[: children[0][0].start_mark.line])
        end_line = slurm.end_mark.line if slurm.end_mark.column == 0 else slurm.end_mark.line + 1
        block_end = sum(len(ln) for ln in lines[:end_line])
        new = f"{indent}reservation: {pool}\n" + "".join(keep)
        edits.append((block_start, block_end, new))
    else:
        edits.append((slurm.start_mark.index, slurm.end_mark.index, f"{{reservation: {pool}}}"))
    for start, end, new in sorted(edits, reverse=True):
        text = text[:start] + new + text[end:]
    return text


def migrate(file: str, pool: str) -> str:
    path = Path(file)
    (spec,) = [s for s in load_specs([file])]
    if not isinstance(spec, AgentSpec):
        raise UsageError(f"{file}: is not an Agent")
    if spec.tenant:
        raise UsageError(f"{file}: is already runtime: slurm-tenant (reservation {spec.reservation})")
    res = Registry().read()["reservations"].get(pool)
    if res is None:
        raise OperationFailed(f"reservation '{pool}' is not known here; book it first "
                              f"(sac reservations book {pool} --host HOST --tmux-server sac)")
    problems = fit_problems(spec, res)
    if problems:
        raise OperationFailed(f"{file}: reservation '{pool}' does not fit the agent: " + "; ".join(problems))
    original = path.read_text(encoding="utf-8")
    if "slurm" not in (yaml.safe_load(original).get("spec") or {}):
        new = original.rstrip("\n") + f"\n  slurm:\n    reservation: {pool}\n"
        new = rewrite_runtime_only(new)
    else:
        new = rewrite(original, pool)
    # The result must be a valid tenant before anything is written.
    with tempfile.TemporaryDirectory() as tmp:
        probe = Path(tmp) / path.name
        probe.write_text(new, encoding="utf-8")
        (check,) = load_specs([str(probe)])
        assert isinstance(check, AgentSpec) and check.tenant and check.reservation == pool
    fd, tmpname = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(new)
    os.chmod(tmpname, path.stat().st_mode & 0o777)
    os.replace(tmpname, path)
    return (f"{file}: now runtime: slurm-tenant in reservation {pool}. Next: `sac agent stop {spec.name}` "
            f"(or let its job end), then `sac agent start {file}`")


def rewrite_runtime_only(text: str) -> str:
    root = yaml.compose(text, Loader=yaml.SafeLoader)
    spec_node = next(v for k, v in root.value if k.value == "spec")
    runtime = next(v for k, v in spec_node.value if k.value == "runtime")
    return text[: runtime.start_mark.index] + "slurm-tenant" + text[runtime.end_mark.index:]
