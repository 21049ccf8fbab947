"""sacgen's JSON Schemas (schemas/*.json): where they are, what they say about
text fields (for the loader), and the two spellings they share with the checks:
ECMA-262 patterns and field paths."""

from __future__ import annotations

import copy
import json
import re
from functools import lru_cache

from ..paths import schema_dir

API_VERSION = "scitex-agent-container/v3"
KINDS = {"Agent": "agent.v3.schema.json", "Reservation": "reservation.v3.schema.json"}
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")


@lru_cache(maxsize=None)
def ecma_pattern(pattern: str) -> re.Pattern:
    r"""A JSON Schema pattern (ECMA-262) as a Python regex with the same meaning.

    The one difference that matters here: in ECMA-262 `$` is the end of the text,
    in Python it also matches before one trailing newline ("name\n" would pass
    `^[a-z]+$`). Every `$` outside a character class becomes `\Z`.
    """
    out, i, in_class = [], 0, False
    while i < len(pattern):
        c = pattern[i]
        if c == "\\":
            out.append(pattern[i:i + 2])
            i += 2
            continue
        if in_class:
            in_class = c != "]"
        elif c == "[":
            in_class = True
            if pattern[i + 1:i + 2] == "]":  # a literal ] first in the class
                out.append("[]")
                i += 2
                continue
        elif c == "$":
            c = r"\Z"
        out.append(c)
        i += 1
    return re.compile("".join(out))


def format_path(path: tuple) -> str:
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        elif isinstance(part, str) and _IDENT.fullmatch(part):
            out += ("." if out else "") + part
        else:
            out += f"[{json.dumps(str(part), ensure_ascii=False)}]"
    return out


@lru_cache(maxsize=None)
def load_schema(kind: str) -> dict:
    return json.loads((schema_dir() / KINDS[kind]).read_text(encoding="utf-8"))


@lru_cache(maxsize=None)
def text_shape(kind: str) -> dict:
    """Where KIND's schema wants text, for the loader (compile.load.keep_text):
    {field: sub-shape}, with "*" for any key of a mapping and "[]" for any item
    of a list; a leaf is "text" (a string), "text|int" (a string or an integer)
    or "int" (an integer)."""
    by_id = {load_schema(k)["$id"]: load_schema(k) for k in KINDS}

    def resolve(node: dict, base: dict) -> tuple[dict, dict]:
        while "$ref" in node:
            uri, _, pointer = node["$ref"].partition("#")
            base = by_id[uri] if uri else base
            target = base
            for part in filter(None, pointer.split("/")):
                target = target[part]
            node = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
        return node, base

    def shape(node: dict, base: dict):
        node, base = resolve(node, base)
        out = {}
        for key, sub in (node.get("properties") or {}).items():
            s = shape(sub, base)
            if s:
                out[key] = s
        if isinstance(node.get("additionalProperties"), dict):
            s = shape(node["additionalProperties"], base)
            if s:
                out["*"] = s
        if isinstance(node.get("items"), dict):
            s = shape(node["items"], base)
            if s:
                out["[]"] = s
        if out:
            return out
        types = set()
        for alt in [node, *node.get("oneOf", ())]:
            alt, _ = resolve(alt, base)
            t = alt.get("type")
            types |= {t} if isinstance(t, str) else set(t or ())
        if "string" in types:
            return "text|int" if "integer" in types else "text"
        return "int" if types == {"integer"} else None

    return shape(load_schema(kind), load_schema(kind))


def standalone_schema(kind: str) -> str:
    """KIND's schema as JSON text that resolves by itself, for `sacgen schema`.

    The files in schemas/ share definitions: the Reservation schema refers to the
    Agent schema's (`urn:sacgen:schema:agent:v3#/$defs/mem` ...), which an editor
    or a plain JSON Schema validator given one file cannot resolve. Every such
    reference becomes a local one, `#/$defs/<name>`, with a copy of its target
    under `$defs` (and what the copy refers to, likewise). A schema without
    references to another file is printed as its file is."""
    text = (schema_dir() / KINDS[kind]).read_text(encoding="utf-8")
    by_id = {load_schema(k)["$id"]: load_schema(k) for k in KINDS}
    root = copy.deepcopy(load_schema(kind))
    own = root["$id"]
    defs = root.setdefault("$defs", {})
    local: dict[tuple[str, str], str] = {}  # (document id, pointer) -> name under $defs

    def target(uri: str, pointer: str):
        node = by_id[uri]
        for part in filter(None, pointer.split("/")):
            node = node[part.replace("~1", "/").replace("~0", "~")]
        return node

    def rewrite(node, base: str):
        """Make NODE's references local; BASE: the document NODE was copied from."""
        if isinstance(node, list):
            for item in node:
                rewrite(item, base)
            return
        if not isinstance(node, dict):
            return
        ref = node.get("$ref")
        if isinstance(ref, str):
            uri, _, pointer = ref.partition("#")
            uri = uri or base
            if uri != own:
                key = (uri, pointer)
                if key not in local:
                    name = pointer.rstrip("/").rsplit("/", 1)[-1] or "root"
                    wanted = target(uri, pointer)
                    while name in defs and defs[name] != wanted:
                        name = "_" + name
                    local[key] = name
                    fresh = name not in defs
                    defs[name] = copy.deepcopy(wanted)
                    if fresh:
                        rewrite(defs[name], uri)
                node["$ref"] = f"#/$defs/{local[key]}"
        for key, value in node.items():
            if key != "$ref":
                rewrite(value, base)

    rewrite(root, own)
    if not local:
        return text
    return json.dumps(root, indent=2, ensure_ascii=False) + "\n"
