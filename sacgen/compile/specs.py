"""One YAML file through the compile stages: load (compile.load), check
(compile.check), model (compile.model). Every file passes each stage once."""

from __future__ import annotations

from pathlib import Path

from ..errors import Problem
from .check import check_document
from .load import load_yaml, load_yaml_bytes
from .model import Spec, agent_from_data, reservation_from_data
from .source import display_path, read_all


def read_spec(path: Path, cwd: Path | None = None) -> tuple[Spec | None, list[Problem]]:
    """The validated spec of one file, or its problems."""
    where = display_path(path, cwd)
    doc, problems = load_yaml(path, where)
    return _checked(doc, problems, path.stem, where)


def spec_of_bytes(raw: bytes, stem: str, where: str) -> tuple[Spec | None, list[Problem]]:
    """The spec named STEM whose YAML is RAW (shown as WHERE), or its problems."""
    doc, problems = load_yaml_bytes(raw, where)
    return _checked(doc, problems, stem, where)


def _checked(doc, problems: list[Problem], stem: str, where: str) -> tuple[Spec | None, list[Problem]]:
    if doc is None:
        return None, problems
    kind, problems = check_document(doc, stem)
    if problems:
        return None, problems
    if kind == "Agent":
        return agent_from_data(stem, where, doc.data), []
    return reservation_from_data(stem, where, doc.data), []


def load_specs(paths: list[str]) -> list[Spec]:
    """Read and validate every file; raise SpecError with every problem of every file."""
    return read_all(paths, read_spec)
