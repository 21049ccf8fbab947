"""Quoting is correct by construction: templates print values only through the
finalize hook (one shell word each), never inside quotes of their own."""

import re
from pathlib import Path

import jinja2.nodes
import pytest

from sacgen.compile import shell
from sacgen.compile.render import environment
from sacgen.paths import template_dir

TEMPLATES = sorted(Path(template_dir()).rglob("*.jinja"))
KNOWN_FILTERS = {"words", "directive", "directive_option", "sbatch_overrides", "ident", "comment", "heredoc",
                 "home", "program", "number"}


@pytest.mark.parametrize("path", TEMPLATES, ids=lambda p: p.name)
def test_template_never_quotes_a_value_itself(path):
    text = path.read_text()
    for n, line in enumerate(text.splitlines(), 1):
        assert not re.search(r"""['"]\{\{|\}\}['"]""", line), f"{path.name}:{n}: a value inside quotes: {line}"
        assert "|safe" not in line and "Markup" not in line and "autoescape" not in line, f"{path.name}:{n}"
        if line.startswith("#SBATCH") and "{{" in line:
            assert "|directive" in line, f"{path.name}:{n}: #SBATCH values go through |directive(_option)"


@pytest.mark.parametrize("path", TEMPLATES, ids=lambda p: p.name)
def test_template_uses_only_the_quoting_filters(path):
    tree = environment().parse(path.read_text())
    used = {f.name for f in tree.find_all(jinja2.nodes.Filter)}
    assert used <= KNOWN_FILTERS, f"{path.name}: unknown filters {used - KNOWN_FILTERS}"


def test_finalize_makes_every_printed_value_one_word():
    env = environment()
    for value in ["$(id)", "a b", "it's", "`x`", "new\nline", "", "*", "-x", "é ✓"]:
        assert env.from_string("echo {{ x }}").render(x=value) == "echo " + shell.word(value)
    with pytest.raises(ValueError):
        env.from_string("echo {{ x }}").render(x=None)


def test_filters_refuse_what_cannot_be_placed():
    for bad in ("a\nb", "a\tb", "", "x\x7f"):
        with pytest.raises(ValueError):
            shell.directive(bad)
    for bad in ("-J", "--", "--a b", "--x\ny=1", "comment=x"):
        with pytest.raises(ValueError):
            shell.directive_option(bad)
    for bad in ("1A", "A-B", "a b", ""):
        with pytest.raises(ValueError):
            shell.ident(bad)
    body = "line\nSAC_EOF\nSAC_EOF_1\n"
    doc = shell.heredoc(body)
    delim = doc.splitlines()[0][3:-1]
    assert delim not in body.splitlines() and doc.endswith("\n" + delim)
    assert shell.comment("a\nb") == "a\\nb"
    assert shell.home_path("~/x y") == '"$HOME"/' + "'x y'"
