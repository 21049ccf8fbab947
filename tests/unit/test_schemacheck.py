"""sacgen.compile.schemacheck answers "valid?" exactly as jsonschema does wherever it
answers at all: on every fixture and example, and on thousands of documents
altered at random (seeded) from the examples."""

import copy
import datetime
import random

import jsonschema
import pytest
from referencing import Registry, Resource

from sacgen.compile import schemacheck
from sacgen.compile.check import KINDS, _pattern, _validator, check_document, fast_check
from sacgen.compile.load import load_yaml

from .conftest import ROOT

# jsonschema with sacgen's one change: `pattern` with ECMA-262's `$`.
Reference = jsonschema.validators.extend(jsonschema.Draft202012Validator, {"pattern": _pattern})


def jsonschema_valid(kind, data) -> bool:
    return not any(True for _ in _validator(kind).iter_errors(data))


def fast_valid(kind, data):
    return fast_check(kind)(data) if schemacheck.plain(data) else None


def documents():
    for path in sorted([*ROOT.glob("examples/**/*.yaml"), *ROOT.glob("tests/fixtures/invalid/*")]):
        doc, _ = load_yaml(path)
        if doc is not None and isinstance(doc.data, dict) and doc.data.get("kind") in KINDS:
            yield path, doc.data


def test_both_schemas_compile():
    assert fast_check("Agent") is not None and fast_check("Reservation") is not None


@pytest.mark.parametrize("path,data", list(documents()), ids=lambda v: getattr(v, "name", ""))
def test_fixtures_get_jsonschemas_verdict(path, data):
    kind = data["kind"]
    got = fast_valid(kind, data)
    assert got is None or got == jsonschema_valid(kind, data)


VALUES = [None, True, False, 0, 1, -1, 2, 7, 65, 1024, 10**12, 1.0, 1.5, -0.5, float("inf"), "", "x", "a b",
          "opus", "sonnet", "slurm", "slurm-tenant", "$(id)", "`id`", "a'b", 'a"b', "line\nbreak", "tail\n",
          "ünïcødé", "16G", "500M", "1:30:00", "7-00:00:00", "30", "~/work", "/abs/path", "dev-pool",
          "UPPER", "x" * 32, "x" * 33, "x" * 300, "x" * 1001, "y" * 5000, "z" * 70000, 29, 30, 4096, 4097,
          65535, 65536, 52560000, 52560001, ["a"] * 257, {f"K{i}": "v" for i in range(257)}, [], {}, ["x"], ["--flag"], [1], {"k": "v"}, {"KEY": "value"}, {"1bad": "v"},
          {"PATH": "/bin"}, {"spartan": {}}, "scitex-agent-container/v3", "Agent", "Reservation"]


LENGTHS = [n + d for n in (32, 48, 64, 200, 255, 1000, 4096, 65536) for d in (0, 1)]


def nodes(value, path=()):
    yield path
    if isinstance(value, dict):
        for k, v in value.items():
            yield from nodes(v, path + (k,))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from nodes(v, path + (i,))


def mutate(data, rng: random.Random):
    data = copy.deepcopy(data)
    for _ in range(rng.choice((1, 1, 2, 3))):
        paths = list(nodes(data))
        path = rng.choice(paths)
        if not path:
            continue
        parent = data
        for part in path[:-1]:
            parent = parent[part]
        last = path[-1]
        move = rng.random()
        if isinstance(parent[last], str) and parent[last] and move < 0.3:
            # Stretched to a length at or just past a maxLength, in its own characters.
            parent[last] = (parent[last] * 70000)[:rng.choice(LENGTHS)]
        elif move < 0.6:
            parent[last] = copy.deepcopy(rng.choice(VALUES))
        elif move < 0.75 and isinstance(parent, dict):
            del parent[last]
        elif move < 0.9 and isinstance(parent, dict):
            parent[rng.choice(["extra", "Model", "env", "flags", "slurm", "host", "cpus", "x-y", "1"])] = \
                copy.deepcopy(rng.choice(VALUES))
        elif isinstance(parent[last], list):
            parent[last].append(copy.deepcopy(rng.choice(VALUES)))
        elif isinstance(parent[last], dict):
            parent[last][rng.choice(["A", "b", "ZZ_9", "spartan", "-x"])] = copy.deepcopy(rng.choice(VALUES))
    return data


def test_altered_documents_get_jsonschemas_verdict():
    rng = random.Random(20261129)
    seeds = [data for path, data in documents() if "examples" in path.parts]
    assert len(seeds) >= 5
    checked = {True: 0, False: 0}
    for _ in range(2500):
        data = mutate(rng.choice(seeds), rng)
        kind = data.get("kind") if isinstance(data.get("kind"), str) else None
        for k in ([kind] if kind in KINDS else list(KINDS)):
            want = jsonschema_valid(k, data)
            got = fast_valid(k, data)
            assert got is None or got == want, (k, data)
            checked[want] += got is not None
    # Both answers occur often: the test measures something.
    assert checked[True] > 200 and checked[False] > 1200, checked


@pytest.mark.parametrize("schema,good,bad", [
    ({"type": "integer"}, [1, 1.0, -3], [True, 1.5, "1", None]),
    ({"type": "number"}, [1, 1.5], [False, "1"]),
    ({"const": 1}, [1, 1.0], [True, "1"]),
    ({"const": True}, [True], [1, 1.0]),
    ({"enum": [0, "a"]}, [0, 0.0, "a"], [False, "A"]),
    ({"pattern": "^[a-z]+$"}, ["abc", 5], ["abc\n", "ABC"]),
    ({"maxLength": 2}, ["ab", "üü", 123], ["abc"]),
    ({"minimum": 1}, [1, "0", True], [0, 0.5]),
    ({"oneOf": [{"type": "integer"}, {"type": "number"}]}, [1.5], [1, "x"]),
    ({"properties": {"a": False}, "additionalProperties": {"type": "string"}}, [{"b": "x"}, []], [{"a": 1}, {"b": 1}]),
    ({"propertyNames": {"pattern": "^[A-Z]+$"}}, [{"AB": 1}], [{"ab": 1}]),
    ({"items": {"type": "string"}, "maxItems": 2}, [["a", "b"], {}], [["a", 1], ["a", "b", "c"]]),
    ({"required": ["a"], "maxProperties": 1}, [{"a": 1}, "x"], [{}, {"a": 1, "b": 2}]),
])
def test_keywords_agree_with_jsonschema(schema, good, bad):
    check = schemacheck.compile_schema(schema, {})
    reference = Reference(schema)
    for value in good:
        assert check(value) and reference.is_valid(value), value
    for value in bad:
        assert not check(value) and not reference.is_valid(value), value


def test_refs_within_and_across_documents():
    draft = "https://json-schema.org/draft/2020-12/schema"
    a = {"$schema": draft, "$id": "urn:t:a", "$defs": {"n": {"type": "string", "maxLength": 3}},
         "properties": {"x": {"$ref": "#/$defs/n"}, "y": {"$ref": "urn:t:b#/$defs/m"}}}
    b = {"$schema": draft, "$id": "urn:t:b", "$defs": {"m": {"type": "integer"}}}
    check = schemacheck.compile_schema(a, {"urn:t:a": a, "urn:t:b": b})
    reference = Reference(
        a, registry=Registry().with_resources([("urn:t:a", Resource.from_contents(a)),
                                               ("urn:t:b", Resource.from_contents(b))]))
    for value in ({"x": "abc", "y": 3}, {"x": "abcd"}, {"y": "3"}, {"x": 1}, {}):
        assert check(value) == reference.is_valid(value), value


@pytest.mark.parametrize("schema", [{"if": {"type": "string"}}, {"patternProperties": {"^a": {}}},
                                    {"additionalProperties": False, "patternProperties": {}},
                                    {"$ref": "urn:nowhere#/x"}, {"format": "email"}, {"const": {"a": 1}}])
def test_what_it_does_not_implement_is_refused(schema):
    with pytest.raises(schemacheck.Unsupported):
        schemacheck.compile_schema(schema, {})


def test_data_that_is_not_plain_json_goes_to_jsonschema():
    assert not schemacheck.plain({"a": datetime.date(2026, 1, 1)})
    assert not schemacheck.plain({1: "a"})
    assert not schemacheck.plain({"a": b"x"})
    assert schemacheck.plain({"a": [1, 2.5, None, True, {"b": "c"}]})


def test_a_timestamp_still_gets_jsonschemas_message(tmp_path):
    f = tmp_path / "agent.yaml"
    f.write_text("apiVersion: scitex-agent-container/v3\nkind: Agent\nspec:\n  runtime: slurm\n"
                 "  model: opus\n  slurm: {auto_resubmit: 2026-01-01}\n")  # (a text field keeps the text)
    doc, problems = load_yaml(f)
    assert not problems and not schemacheck.plain(doc.data)
    kind, problems = check_document(doc, "agent")
    assert [p.field for p in problems] == ["spec.slurm.auto_resubmit"]
