"""Read a YAML file into plain data, remembering the line of every node.

Guards that plain yaml.safe_load lacks: duplicate keys are errors, YAML 1.1
sexagesimal numbers stay strings (`time_limit: 1:00:00` must not become 3600),
documents that expand without bound through aliases are refused, and files that
are too large, binary or empty are refused before parsing.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from ..errors import Problem
from .schemas import format_path, text_shape
from .source import MAX_BYTES, read_input

MAX_NODES = 20_000

class _Loader(yaml.SafeLoader):
    """SafeLoader without YAML 1.1 base-60 ints/floats. Its messages for invalid
    YAML are the ones sacgen reports."""


# The same with libyaml's parser (about ten times faster), used first; a file it
# refuses is read again by _Loader for the message.
_FastLoader = type("_FastLoader", (getattr(yaml, "CSafeLoader", yaml.SafeLoader),), {})

# Rebuild the implicit resolvers: same as SafeLoader but with int/float patterns
# that do not accept `1:00:00` (which SLURM reads as a time, YAML 1.1 as 3600).
_Loader.yaml_implicit_resolvers = {
    k: [(tag, rx) for tag, rx in v if tag not in ("tag:yaml.org,2002:int", "tag:yaml.org,2002:float")]
    for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:int",
    re.compile(
        r"""^(?:[-+]?0b[0-1_]+
        |[-+]?0[0-7_]+
        |[-+]?(?:0|[1-9][0-9_]*)
        |[-+]?0x[0-9a-fA-F_]+)$""",
        re.X,
    ),
    list("-+0123456789"),
)
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(
        r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+][0-9]+)?
        |\.[0-9][0-9_]*(?:[eE][-+][0-9]+)?
        |[-+]?\.(?:inf|Inf|INF)
        |\.(?:nan|NaN|NAN))$""",
        re.X,
    ),
    list("-+0123456789."),
)
_FastLoader.yaml_implicit_resolvers = _Loader.yaml_implicit_resolvers  # type: ignore[attr-defined]


class Document:
    """A loaded YAML document: its data and the line of each field path (`lines`,
    filled from the composed YAML `node` when first needed)."""

    __slots__ = ("path", "data", "lines", "node")

    def __init__(self, path: str, data: Any, lines: dict | None = None, node: Any = None):
        self.path, self.data, self.node = path, data, node
        self.lines = {} if lines is None else lines

    def line_of(self, path: tuple) -> int:
        """Line of the deepest node on `path` that exists (1-based)."""
        if self.node is not None:
            _record_lines(self.node, (), self.lines)
            self.node = None
        p = tuple(path)
        while p:
            if p in self.lines:
                return self.lines[p]
            p = p[:-1]
        return self.lines.get((), 1)


def _scalar_key(node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        return node.value
    return None


def _check_tree(node: yaml.Node, where: str, problems: list[Problem]) -> None:
    """Refuse alias bombs, cycles and duplicate keys, before constructing anything."""
    sizes: dict[int, int] = {}
    on_stack: set[int] = set()

    def size(n: yaml.Node, path: tuple) -> int:
        key = id(n)
        if key in sizes:
            return sizes[key]
        if key in on_stack:
            raise _Refused(n, path, "recursive alias: the document refers to itself")
        on_stack.add(key)
        total = 1
        if isinstance(n, yaml.MappingNode):
            seen: dict[Any, int] = {}
            for k, v in n.value:
                kv = _scalar_key(k)
                if kv is not None and kv in seen and isinstance(k, yaml.ScalarNode):
                    problems.append(
                        Problem(where, k.start_mark.line + 1, format_path(path + (kv,)),
                                f"duplicate key {kv!r} (first at line {seen[kv]})")
                    )
                elif kv is not None:
                    seen[kv] = k.start_mark.line + 1
                total += size(k, path) + size(v, path + ((kv if kv is not None else "?"),))
                if total > MAX_NODES:
                    raise _Refused(n, path, f"document expands to more than {MAX_NODES} nodes (YAML alias bomb?)")
        elif isinstance(n, yaml.SequenceNode):
            for i, v in enumerate(n.value):
                total += size(v, path + (i,))
                if total > MAX_NODES:
                    raise _Refused(n, path, f"document expands to more than {MAX_NODES} nodes (YAML alias bomb?)")
        on_stack.discard(key)
        sizes[key] = total
        return total

    try:
        size(node, ())
    except _Refused as r:
        problems.append(Problem(where, r.node.start_mark.line + 1, format_path(r.path), r.message))


class _Refused(Exception):
    def __init__(self, node: yaml.Node, path: tuple, message: str):
        self.node, self.path, self.message = node, path, message


def _record_lines(node: yaml.Node, path: tuple, lines: dict) -> None:
    """Map each field path to a line; a key's path points at the key's own line."""
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            kv = _scalar_key(k)
            if kv is not None:
                lines.setdefault(path + (kv,), k.start_mark.line + 1)
                _record_lines(v, path + (kv,), lines)
    elif isinstance(node, yaml.SequenceNode):
        for i, v in enumerate(node.value):
            _record_lines(v, path + (i,), lines)


def load_yaml(path: str | Path, display: str | None = None) -> tuple[Document | None, list[Problem]]:
    """Load one YAML file. Returns (document, problems); document is None on failure."""
    where = display or str(path)
    raw, problems = read_input(path, where)
    if raw is None:
        return None, problems
    return load_yaml_bytes(raw, where)


def load_yaml_bytes(raw: bytes, where: str) -> tuple[Document | None, list[Problem]]:
    if len(raw) > MAX_BYTES:
        return None, [Problem(where, 1, "", f"file is {len(raw)} bytes; an agent YAML may be at most {MAX_BYTES}")]
    if b"\x00" in raw:
        return None, [Problem(where, 1, "", "file is binary (contains NUL bytes), not YAML")]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        return None, [Problem(where, line, "", "file is not valid UTF-8 text")]
    if not text.strip() or all(not ln.strip() or ln.lstrip().startswith("#") for ln in text.splitlines()):
        return None, [Problem(where, 1, "", "file is empty; expected an Agent or Reservation document")]
    try:
        loader, nodes = _compose(_FastLoader, text)
    except yaml.YAMLError:
        try:
            loader, nodes = _compose(_Loader, text)
        except yaml.MarkedYAMLError as e:
            mark = e.problem_mark or e.context_mark
            if _unclosed_quote(e.problem or "", e.context) and e.context_mark:
                mark = e.context_mark  # where the quote opened, not the end of the file
            line = mark.line + 1 if mark else 1
            what = (e.problem or e.context or "malformed YAML").strip()
            return None, [Problem(where, line, "", f"invalid YAML: {what}{_in_plain_words(what, e.context)}")]
        except yaml.YAMLError as e:  # pragma: no cover - defensive
            return None, [Problem(where, 1, "", f"invalid YAML: {str(e).splitlines()[0]}")]
    if len(nodes) != 1:
        line = nodes[1].start_mark.line + 1 if len(nodes) > 1 else 1
        return None, [Problem(where, line, "", f"expected exactly one YAML document, found {len(nodes)}")]
    node = nodes[0]
    problems: list[Problem] = []
    _check_tree(node, where, problems)
    if problems:
        return None, problems
    try:
        data = loader.construct_document(node)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        line = mark.line + 1 if mark else 1
        return None, [Problem(where, line, "", f"invalid YAML: {getattr(e, 'problem', None) or e}")]
    except (TypeError, ValueError) as e:  # e.g. unhashable keys
        return None, [Problem(where, node.start_mark.line + 1, "", f"invalid YAML: {e}")]
    keep_text(loader, node, data)
    doc = Document(where, data, node=node)  # lines are mapped on the first lookup
    # A lone surrogate can only come from a \u escape (strict UTF-8 decoding
    # refuses one in the bytes): no backslash, nothing to look for.
    bad = _surrogate(data, ()) if "\\" in text else None
    if bad is not None:
        return None, [Problem(where, doc.line_of(bad), format_path(bad),
                              "is not Unicode text: a lone surrogate (a \\ud800-\\udfff escape) cannot be written")]
    return doc, []


_STR = "tag:yaml.org,2002:str"


def keep_text(loader, node: yaml.Node, data: Any) -> None:
    """Put back, in DATA, the text the user wrote where the schema wants text.

    YAML 1.1 reads an unquoted `0022` as the integer 18, `0x1F` as 31, `1_000` as
    1000, `.5` and `1.0e+3` as floats, `yes`/`on` as true and `2024-01-01` as a
    date; in a field whose value becomes text (env values, flags, model, paths,
    SLURM names and times ...) that value is the scalar's own text instead, byte
    for byte. A field that also takes an integer (env values, times) keeps a
    plain decimal integer as one (`90` is 90); an integer field (cpus_per_task,
    resubmit_before) gets the text of anything but a plain decimal integer, which
    the schema then refuses, rather than a number the user did not write (`010`
    is not 8). null (`~`, `null`, nothing) stays null: it is no text. Keys of the
    document's mappings are text too (`ON: 1` in env is the variable ON, not true).
    LOADER: the one that constructed DATA from NODE."""
    if isinstance(data, dict) and isinstance(node, yaml.MappingNode) and data.get("kind") in ("Agent", "Reservation"):
        _keep_text(loader, node, data, text_shape(data["kind"]))


# What YAML 1.1 makes of a plain scalar that is not a string.
_REWRITES = frozenset(f"tag:yaml.org,2002:{t}" for t in ("bool", "int", "float", "null", "timestamp"))


def _rewritten(node: yaml.Node) -> bool:
    return isinstance(node, yaml.ScalarNode) and not node.style and node.tag in _REWRITES


def _keep_text(loader, node: yaml.Node, data: Any, shape) -> Any:
    """The text to put in place of DATA, or None to keep it (a mapping or list is
    changed in place)."""
    if isinstance(shape, dict):
        if isinstance(node, yaml.MappingNode) and isinstance(data, dict):
            # After construction node.value holds the pairs of `<<` merges too, in
            # an order where the last pair of a key is the one that counts.
            if any(_rewritten(k) for k, _ in node.value):
                rebuilt = {}
                for k, v in node.value:
                    key = k.value if _rewritten(k) else loader.construct_object(k, deep=True)
                    rebuilt[key] = loader.construct_object(v, deep=True)
                data.clear()
                data.update(rebuilt)
            last = {k.value: v for k, v in node.value
                    if isinstance(k, yaml.ScalarNode) and (k.tag == _STR or _rewritten(k))}
            for key, v in last.items():
                sub = shape.get(key, shape.get("*"))
                if sub is not None and key in data:
                    new = _keep_text(loader, v, data[key], sub)
                    if new is not None:
                        data[key] = new
        elif isinstance(node, yaml.SequenceNode) and isinstance(data, list) and "[]" in shape:
            for i, v in enumerate(node.value):
                new = _keep_text(loader, v, data[i], shape["[]"])
                if new is not None:
                    data[i] = new
        return None
    if not _rewritten(node) or data is None or isinstance(data, str):
        return None
    if type(data) is int and shape != "text" and str(data) == node.value:
        return None  # a plain decimal integer where one is allowed
    if shape == "int" and type(data) not in (int, float):
        return None  # true, a date ...: the schema says what is wrong with it
    return node.value


def _surrogate(value, path: tuple):
    """The path of the first string (key or value) holding a lone surrogate."""
    if isinstance(value, str):
        return path if _SURROGATE.search(value) else None
    if isinstance(value, dict):
        for k, v in value.items():
            if isinstance(k, str) and _SURROGATE.search(k):
                return path + (k,)
            found = _surrogate(v, path + (k,))
            if found is not None:
                return found
    elif isinstance(value, list):
        for i, v in enumerate(value):
            found = _surrogate(v, path + (i,))
            if found is not None:
                return found
    return None


_SURROGATE = re.compile("[\ud800-\udfff]")


# What the YAML parser's words usually mean, for the messages people meet most.
_PLAIN = (
    ("mapping values are not allowed here", "a `key: value` where none can be: a line indented too deep, "
                                            "or a value holding ': ' that needs quotes"),
    ("expected <block end>, but found", "a line indented differently from the lines above it in its block"),
    ("found character '\\t' that cannot start any token", "a tab: YAML indents with spaces only"),
    ("could not find expected ':'", "a line that is neither `key: value` nor a `- item`: a ':' left out?"),
)


def _unclosed_quote(problem: str, context: str | None) -> bool:
    """A quoted scalar that runs to the end of the file (or to a `---`)."""
    return "quoted scalar" in (context or "") and problem in ("found unexpected end of stream",
                                                              "found unexpected document separator")


def _in_plain_words(problem: str, context: str | None) -> str:
    if _unclosed_quote(problem, context):
        return " (a quote opened and never closed)"
    for words, plain in _PLAIN:
        if problem.startswith(words):
            return f" ({plain})"
    return ""


def _compose(cls, text: str):
    """Every document of the text as nodes (composed once; constructed later from
    the same nodes, after the checks)."""
    loader = cls(text)
    nodes = []
    while loader.check_node():
        nodes.append(loader.get_node())
    return loader, nodes
