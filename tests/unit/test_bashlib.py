"""The helper library (templates/lib, compile.bashlib) and the layout of the
generated scripts: main first, then the helpers it calls, then the files a
script carries, then `main "$@"`."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from sacgen.compile import bashlib
from sacgen.compile.build import render_tree
from sacgen.compile.lint import shellcheck_binary
from sacgen.compile.render import BATCH_HELPERS
from sacgen.compile.specs import load_specs

ROOT = Path(__file__).resolve().parents[2]
LIB = ROOT / "templates" / "lib"
LIB_FILES = sorted(p.name for p in LIB.glob("*.sh"))

_DEFINITION = re.compile(r"^[ \t]*(\w+)\(\) \{", re.M)
_HEREDOC = re.compile(r"<<-?'?(\w+)'?\n")
_ARTIFACT = re.compile(r"^# :artifact (\S+) -- [^\n]*\n\w+\(\) \{\n  sac_install \"\$1\" <<'(\w+)'\n", re.M)


def _scripts() -> dict[str, str]:
    files = {rel: text for rel, (text, _) in render_tree(load_specs([str(ROOT / "examples")])).items()
             if rel.endswith((".sh", ".sbatch"))}
    files.update({name: make() for name, make in BATCH_HELPERS.items()})
    return files


SCRIPTS = _scripts()


def _own_code(text: str) -> str:
    """The script's own code: all but its helper section (from its first line to
    the files it carries, or to the call of main), with the bodies of its
    here-documents left out."""
    if "\n" + bashlib.SECTION in text:
        start = text.index("\n" + bashlib.SECTION)
        ends = [text.find(mark, start) for mark in ("\n# :artifact ", "\n# :data ", '\nmain "$@"\n')]
        text = text[:start] + text[min(e for e in ends if e >= 0):]
    out, at = [], 0
    for m in _HEREDOC.finditer(text):
        if m.start() < at:
            continue
        out.append(text[at:m.end()])
        end = text.find(f"\n{m.group(1)}\n", m.end() - 1)
        at = len(text) if end < 0 else end + 1
    out.append(text[at:])
    return "".join(out)


def test_the_library_is_plain_bash_one_function_a_file():
    assert len(LIB_FILES) >= 30
    lib = bashlib.library()
    assert sorted(lib.files) == LIB_FILES
    for name in LIB_FILES:
        text = (LIB / name).read_text()
        assert "{{" not in text and "{%" not in text, name
        if lib.functions_only[name]:
            assert lib.defines[name] == [name[:-3]], (name, lib.defines[name])
        else:
            assert lib.defines[name] == [], name  # globals.sh: state, no functions
    assert not lib.functions_only["globals.sh"] and lib.files[0] == "globals.sh"


@pytest.mark.skipif(shellcheck_binary() is None, reason="shellcheck not installed")
@pytest.mark.parametrize("name", LIB_FILES)
def test_each_library_file_passes_shellcheck_on_its_own(name):
    r = subprocess.run([shellcheck_binary(), "-s", "bash", "-x", str(LIB / name)], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def test_the_closure_follows_the_calls():
    lib = bashlib.library()
    assert lib.closure("sac_json x") == ["sac_json.sh", "sac_quote_v.sh"]
    assert lib.closure("# sac_json in a comment\n") == []
    assert "globals.sh" in lib.closure("sac_chain_v chain x")  # sac_chain_v reads sac_user
    assert lib.closure('echo "$sac_root"') == ["globals.sh"]


@pytest.mark.parametrize("rel", sorted(SCRIPTS))
def test_main_comes_first_and_is_called_last(rel):
    text = SCRIPTS[rel]
    lines = text.splitlines()
    assert "main() {" in lines[:60], f"{rel}: main does not start within its first 60 lines"
    assert text.endswith('\nmain "$@"\n'), rel
    assert lines[0] == "#!/usr/bin/env bash"
    assert any(line.startswith("# Template: ") for line in lines[:20]), rel


@pytest.mark.parametrize("rel", sorted(SCRIPTS))
def test_no_function_is_defined_twice_in_a_scripts_own_code(rel):
    names = _DEFINITION.findall(_own_code(SCRIPTS[rel]))
    twice = sorted({n for n in names if names.count(n) > 1})
    assert not twice, f"{rel} defines {twice} more than once"


@pytest.mark.parametrize("rel", sorted(SCRIPTS))
def test_the_helper_section_is_the_librarys_text(rel):
    """Each block is a library file byte for byte, each called one is there, and
    no function of the library is defined in the script's own code."""
    text = SCRIPTS[rel]
    lib = bashlib.library()
    blocks = lib.blocks(text)
    if not blocks:
        assert bashlib.SECTION not in text.split("\n# :artifact ")[0], rel
        return
    names = [name for name, _, _ in blocks]
    assert names == sorted(names, key=lib.files.index)
    _start, end = blocks[0][1], blocks[-1][2]
    section = text[text.index(bashlib.SECTION) - 1:end]
    assert section == lib.section(names) + "\n"
    # Every helper the script's own code calls is there. (The cut depends on the
    # template alone: a helper called under a condition that this spec does not
    # meet is carried all the same.)
    missing = set(lib.closure(_own_code(text))) - set(names)
    assert not missing, f"{rel} calls {sorted(missing)} but does not carry them"
    own = set(_DEFINITION.findall(_own_code(text)))
    assert not own & {f for n in lib.files for f in lib.defines[n]}, rel


def test_each_carried_file_is_that_files_own_text_byte_for_byte():
    seen = 0
    for rel, text in SCRIPTS.items():
        folder = rel.rsplit("/", 1)[0] if "/" in rel else ""
        for m in _ARTIFACT.finditer(text):
            name, delim = m.group(1), m.group(2)
            end = text.index(f"\n{delim}\n", m.end() - 1)
            body = text[m.end():end + 1]
            assert body == SCRIPTS[f"{folder}/{name}"], f"{rel} carries a {name} that is not {folder}/{name}"
            seen += 1
    assert seen >= 8
    for rel in SCRIPTS:
        if rel.endswith("/start.sh") or rel.endswith("/book.sh"):
            assert "# :artifact " in SCRIPTS[rel], rel


def test_a_carried_file_is_written_byte_for_byte(tmp_path):
    """The function that carries a file writes it exactly (a here-document in a
    function keeps its bytes)."""
    rel = next(r for r in SCRIPTS if r.endswith("/start.sh") and "# :artifact job.sbatch" in SCRIPTS[r])
    text = SCRIPTS[rel]
    head = text[:-len('main "$@"\n')]
    out = tmp_path / "job.sbatch"
    r = subprocess.run(["bash", "-c", head + 'sac_write_job_sbatch "$1"', "_", str(out)], capture_output=True)
    assert r.returncode == 0, r.stderr
    assert out.read_text() == SCRIPTS[rel.replace("start.sh", "job.sbatch")]


def test_a_script_from_another_library_is_left_as_it_is():
    lib = bashlib.library()
    text = next(t for t in SCRIPTS.values() if "sac_json.sh" in t and lib.blocks(t))
    changed = text.replace("sac_j\n", "sac_k\n", 1)
    common, out = lib.hoist([changed, text])
    assert "sac_json.sh" in common
    assert f"{bashlib.BLOCK}sac_json.sh\n" in out[0]  # kept: not the library's text
    assert f"{bashlib.BLOCK}sac_json.sh\n" not in out[1]
