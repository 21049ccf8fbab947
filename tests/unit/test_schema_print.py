"""`sacgen schema` prints a schema that stands alone: a plain JSON Schema
validator (or an editor) given only that text, and no registry of the other
schema files, resolves every reference and judges documents as sacgen does."""

from __future__ import annotations

import copy
import json

import jsonschema
import pytest
import yaml

from sacgen.compile.check import KINDS, _validator, load_schema

from .conftest import ROOT, run_cli


def printed(kind: str) -> dict:
    r = run_cli("sacgen", "schema", "--kind", kind)
    assert r.returncode == 0 and r.stderr == "", r.stderr
    return json.loads(r.stdout)


def refs(node):
    if isinstance(node, dict):
        if "$ref" in node:
            yield node["$ref"]
        for v in node.values():
            yield from refs(v)
    elif isinstance(node, list):
        for v in node:
            yield from refs(v)


def examples(kind: str) -> list[dict]:
    out = []
    for path in sorted(ROOT.glob("examples/*/*.yaml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        if data["kind"] == kind:
            out.append(data)
    assert out, kind
    return out


# (kind, path into the document, a value the schema refuses)
BREAKS = {
    "Agent": [(("spec", "slurm", "mem"), "16GB"), (("spec", "runtime"), "k8s"), (("metadata", "name"), "Bad Name"),
              (("spec", "slurm", "time_limit"), "2 hours"), (("spec", "slurm", "host"), "-oProxyCommand=x"),
              (("spec", "extra"), 1)],
    "Reservation": [(("spec", "mem"), "16GB"), (("spec", "host"), "-oProxyCommand=x"), (("spec", "time"), "soon"),
                    (("spec", "partition"), "a;b"), (("metadata", "name"), "Bad Name"), (("spec", "cpus_per_task"), 4)],
}


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_the_printed_schema_resolves_without_a_registry(kind):
    schema = printed(kind)
    assert all(ref.startswith("#") for ref in refs(schema)), list(refs(schema))
    assert "urn:sacgen:schema:" not in json.dumps({k: v for k, v in schema.items() if k != "$id"})
    jsonschema.Draft202012Validator.check_schema(schema)
    plain = jsonschema.Draft202012Validator(schema)  # no registry: only this text
    for doc in examples(kind):
        plain.validate(doc)
    for path, value in BREAKS[kind]:
        doc = copy.deepcopy(examples(kind)[0])
        node = doc
        for key in path[:-1]:
            node = node.setdefault(key, {})
        node[path[-1]] = value
        assert not plain.is_valid(doc), (path, value)
        assert not _validator(kind).is_valid(doc), (path, value)  # sacgen says the same


def test_the_schema_files_stay_the_one_source():
    """The printed Reservation schema is its file with the Agent file's shared
    definitions copied in, not a second copy kept by hand."""
    res = printed("Reservation")
    source = load_schema("Reservation")
    agent = load_schema("Agent")
    assert res["$id"] == source["$id"] and res["title"] == source["title"]
    for name in ("name", "slurm_name", "mem", "slurm_time"):
        assert res["$defs"][name] == agent["$defs"][name]
    host = agent["properties"]["spec"]["properties"]["slurm"]["properties"]["host"]
    assert res["$defs"]["host"] == host
    assert res["properties"]["spec"]["properties"]["host"]["description"] == "ssh destination of the submission host."


MODELINE = "# yaml-language-server: $schema="


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_the_schemas_the_examples_name_are_fresh(kind):
    """examples/<kind>.schema.json is what `sacgen schema` prints (`make schemas` writes it)."""
    r = run_cli("sacgen", "schema", "--kind", kind)
    path = ROOT / "examples" / f"{kind.lower()}.schema.json"
    assert path.read_text(encoding="utf-8") == r.stdout, f"{path.name} is stale: run `make schemas`"


def test_every_example_names_the_schema_of_its_kind():
    for path in sorted(ROOT.glob("examples/*/*.yaml")):
        first = path.read_text(encoding="utf-8").splitlines()[0]
        assert first.startswith(MODELINE), path
        kind = yaml.safe_load(path.read_text(encoding="utf-8"))["kind"]
        target = (path.parent / first[len(MODELINE):]).resolve()
        assert target == ROOT / "examples" / f"{kind.lower()}.schema.json", path
        jsonschema.Draft202012Validator(json.loads(target.read_text("utf-8"))).validate(
            yaml.safe_load(path.read_text(encoding="utf-8")))


DRAFT7 = {"$schema", "$id", "$ref", "$comment", "title", "description", "default", "examples", "type", "enum",
          "const", "properties", "additionalProperties", "required", "propertyNames", "patternProperties",
          "minProperties", "maxProperties", "items", "minItems", "maxItems", "uniqueItems", "pattern", "minLength",
          "maxLength", "minimum", "maximum", "oneOf", "anyOf", "allOf", "not", "format"}


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_an_editor_that_knows_only_draft_7_reads_the_whole_schema(kind):
    """yaml-language-server supports JSON Schema draft 7: every keyword the printed
    schema uses is one draft 7 has too ($defs is reached by a plain pointer), and a
    draft-7 validator judges the examples and the broken documents alike."""
    schema = printed(kind)

    def keywords(node, in_map=False):
        if isinstance(node, dict):
            for k, v in node.items():
                if not in_map:
                    yield k
                yield from keywords(v, in_map=k in ("properties", "$defs") and not in_map)
        elif isinstance(node, list):
            for v in node:
                yield from keywords(v)

    extra = set(keywords(schema)) - DRAFT7 - {"$defs", "x-error", "x-type-error", "x-unit"}
    assert not extra, extra
    draft7 = jsonschema.Draft7Validator({k: v for k, v in schema.items() if k != "$schema"})
    for doc in examples(kind):
        draft7.validate(doc)
    for path, value in BREAKS[kind]:
        doc = copy.deepcopy(examples(kind)[0])
        node = doc
        for key in path[:-1]:
            node = node.setdefault(key, {})
        node[path[-1]] = value
        assert not draft7.is_valid(doc), (path, value)
