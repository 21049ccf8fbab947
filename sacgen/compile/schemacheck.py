"""A fast yes/no answer to "is this data valid against the schema?", for the
common case of valid input.

The JSON Schema is compiled once per process into plain Python predicates, one
per subschema. The answer is True only where jsonschema would find no error. A
schema keyword this module does not implement makes the whole schema
unsupported, and a value that is not plain JSON data (a YAML timestamp, a key
that is not a string ...) makes the answer None: in both cases jsonschema
decides, as it does, for its messages, whenever the answer is not True
(compile.check.check_document). So a valid file costs neither jsonschema's
generic engine nor its import; tests/unit/test_schemacheck.py holds the answers
to jsonschema's on every fixture and on thousands of altered documents.

Semantics follow draft 2020-12 as jsonschema implements it: a bool is not an
integer or a number, 1.0 is an integer, const and enum tell true from 1,
`pattern` has ECMA-262's `$` (compile.schemas.ecma_pattern), and an applicator
ignores values of other types.
"""

from __future__ import annotations

from .schemas import ecma_pattern

# Keywords that never make data invalid.
_ANNOTATIONS = frozenset({"$schema", "$id", "$defs", "$comment", "title", "description", "default",
                          "examples", "deprecated", "readOnly", "writeOnly", "x-error", "x-type-error",
                          "x-unit"})
_SCALARS = (str, int, float, bool, type(None))


class Unsupported(Exception):
    """The schema uses something this module does not implement."""


def plain(value) -> bool:
    """Is VALUE plain JSON data: dicts with string keys, lists and scalars?"""
    if isinstance(value, _SCALARS):
        return True
    if type(value) is dict:
        return all(type(k) is str and plain(v) for k, v in value.items())
    if type(value) is list:
        return all(plain(v) for v in value)
    return False


def compile_schema(root: dict, others: dict[str, dict]):
    """A predicate for ROOT; OTHERS: the schemas its $refs may name, by $id."""
    return _Compiler(root, others).compile(root, root)


def _is_number(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


_TYPES = {
    "string": lambda x: isinstance(x, str),
    "integer": lambda x: (isinstance(x, int) and not isinstance(x, bool)) or (isinstance(x, float) and x.is_integer()),
    "number": _is_number,
    "object": lambda x: isinstance(x, dict),
    "array": lambda x: isinstance(x, list),
    "boolean": lambda x: isinstance(x, bool),
    "null": lambda x: x is None,
}


def _unbool(x):
    return ("bool", x) if isinstance(x, bool) else x


def _equal(a, b) -> bool:
    """jsonschema's equality for a scalar B: true is not 1, 1 is 1.0."""
    if isinstance(a, str) or isinstance(b, str):
        return a == b
    if isinstance(a, (dict, list)):
        return False
    return _unbool(a) == _unbool(b)


class _Compiler:
    def __init__(self, root: dict, others: dict[str, dict]):
        self.root = root
        self.others = others
        self.done: dict[int, object] = {}  # id(subschema) -> its predicate (refs may recurse)

    def compile(self, schema, doc: dict):
        if schema is True:
            return lambda x: True
        if schema is False:
            return lambda x: False
        if not isinstance(schema, dict):
            raise Unsupported(f"a schema must be an object or a bool (got {schema!r})")
        if id(schema) in self.done:
            return self.done[id(schema)]
        if "$id" in schema and schema is not doc:
            raise Unsupported("$id below a document's root")
        checks: list = []

        def check(x):
            for c in checks:
                if not c(x):
                    return False
            return True

        self.done[id(schema)] = check  # before the parts: a $ref may come back here
        for key, value in schema.items():
            if key in _ANNOTATIONS or key in ("additionalProperties",):
                continue
            make = getattr(self, "k_" + key.replace("$", "S"), None)
            if make is None:
                raise Unsupported(f"keyword {key!r}")
            checks.append(make(value, schema, doc))
        if "additionalProperties" in schema:
            checks.append(self.additional(schema["additionalProperties"], schema, doc))
        return check

    # -- one method per keyword: (value, schema, doc) -> predicate --

    def k_type(self, value, schema, doc):
        names = [value] if isinstance(value, str) else value
        if not isinstance(names, list) or not all(n in _TYPES for n in names):
            raise Unsupported(f"type {value!r}")
        tests = [_TYPES[n] for n in names]
        return lambda x: any(t(x) for t in tests)

    def k_const(self, value, schema, doc):
        if not isinstance(value, _SCALARS):
            raise Unsupported("const that is not a scalar")
        return lambda x: _equal(x, value)

    def k_enum(self, value, schema, doc):
        if not isinstance(value, list) or not all(isinstance(v, _SCALARS) for v in value):
            raise Unsupported("enum of values that are not scalars")
        return lambda x: any(_equal(x, v) for v in value)

    def k_pattern(self, value, schema, doc):
        search = ecma_pattern(value).search
        return lambda x: not isinstance(x, str) or search(x) is not None

    def k_minLength(self, value, schema, doc):
        return lambda x: not isinstance(x, str) or len(x) >= value

    def k_maxLength(self, value, schema, doc):
        return lambda x: not isinstance(x, str) or len(x) <= value

    def k_minimum(self, value, schema, doc):
        return lambda x: not _is_number(x) or not x < value

    def k_maximum(self, value, schema, doc):
        return lambda x: not _is_number(x) or not x > value

    def k_exclusiveMinimum(self, value, schema, doc):
        return lambda x: not _is_number(x) or not x <= value

    def k_exclusiveMaximum(self, value, schema, doc):
        return lambda x: not _is_number(x) or not x >= value

    def k_required(self, value, schema, doc):
        return lambda x: not isinstance(x, dict) or all(k in x for k in value)

    def k_maxProperties(self, value, schema, doc):
        return lambda x: not isinstance(x, dict) or len(x) <= value

    def k_minProperties(self, value, schema, doc):
        return lambda x: not isinstance(x, dict) or len(x) >= value

    def k_maxItems(self, value, schema, doc):
        return lambda x: not isinstance(x, list) or len(x) <= value

    def k_minItems(self, value, schema, doc):
        return lambda x: not isinstance(x, list) or len(x) >= value

    def k_properties(self, value, schema, doc):
        subs = [(name, self.compile(sub, doc)) for name, sub in value.items()]
        return lambda x: not isinstance(x, dict) or all(name not in x or sub(x[name]) for name, sub in subs)

    def additional(self, value, schema, doc):
        if "patternProperties" in schema:
            raise Unsupported("patternProperties")
        known = frozenset(schema.get("properties", {}))
        sub = self.compile(value, doc)
        return lambda x: not isinstance(x, dict) or all(sub(v) for k, v in x.items() if k not in known)

    def k_propertyNames(self, value, schema, doc):
        sub = self.compile(value, doc)
        return lambda x: not isinstance(x, dict) or all(sub(k) for k in x)

    def k_items(self, value, schema, doc):
        if "prefixItems" in schema:
            raise Unsupported("prefixItems")
        sub = self.compile(value, doc)
        return lambda x: not isinstance(x, list) or all(sub(v) for v in x)

    def k_oneOf(self, value, schema, doc):
        subs = [self.compile(s, doc) for s in value]
        return lambda x: sum(1 for s in subs if s(x)) == 1

    def k_anyOf(self, value, schema, doc):
        subs = [self.compile(s, doc) for s in value]
        return lambda x: any(s(x) for s in subs)

    def k_allOf(self, value, schema, doc):
        subs = [self.compile(s, doc) for s in value]
        return lambda x: all(s(x) for s in subs)

    def k_not(self, value, schema, doc):
        sub = self.compile(value, doc)
        return lambda x: not sub(x)

    def k_Sref(self, value, schema, doc):
        uri, _, pointer = value.partition("#")
        target_doc = doc if not uri else self.others.get(uri)
        if target_doc is None:
            raise Unsupported(f"$ref to an unknown document {uri!r}")
        target = target_doc
        for part in filter(None, pointer.split("/")):
            part = part.replace("~1", "/").replace("~0", "~")
            if "%" in part or not isinstance(target, dict) or part not in target:
                raise Unsupported(f"$ref {value!r}")
            target = target[part]
        return self.compile(target, target_doc)
