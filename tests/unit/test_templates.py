"""The templates cannot let an unquoted or hand-quoted value into a script.

sacgen.shell.finalize quotes every printed value (one shell word, shlex.quote)
unless it is `Shell` text made by one of the registered filters. These tests scan
templates/**/*.jinja for the ways a template could get around that -- quotes of its
own around a value, autoescape/Markup/|safe, unknown filters, #SBATCH values that do
not go through |directive -- and check on the real environment that the hook and
the filters do what the scan relies on.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import jinja2
import jinja2.nodes as nodes
import pytest
import yaml

from sacgen.compile import render, shell
from sacgen.compile.specs import load_specs
from sacgen.paths import template_dir

from .conftest import ROOT
from .test_quoting import KNOWN_FILTERS

TEMPLATE_DIR = ROOT / "templates"
TEMPLATES = sorted(TEMPLATE_DIR.rglob("*.jinja"))
IDS = [p.relative_to(TEMPLATE_DIR).as_posix() for p in TEMPLATES]
# KNOWN_FILTERS (from test_quoting): the filters sacgen/render.py registers;
# nothing else may appear in a template.

EXPR = re.compile(r"\{\{-?(.*?)-?\}\}", re.S)


def _blank(m: re.Match) -> str:
    return re.sub(r"[^\n]", " ", m.group(0))


def text_of(path: Path) -> str:
    """The template's text with Jinja comments ({# #}) blanked out: they print
    nothing, and the helpers' own comment talks about `{{ }}`. Offsets and line
    numbers stay those of the file."""
    return re.sub(r"\{#.*?#\}", _blank, path.read_text(encoding="utf-8"), flags=re.S)


def parse(source: str) -> nodes.Template:
    return render.environment().parse(source)


def line_no(text: str, pos: int) -> int:
    return text.count("\n", 0, pos) + 1


def test_the_scan_covers_every_template():
    assert template_dir().resolve() == TEMPLATE_DIR.resolve()
    names = set(IDS)
    assert len(TEMPLATES) >= 10
    for expected in ("session.sh.jinja", "fragments/header.jinja", "agent-slurm/job.sbatch.jinja",
                     "agent-slurm/start.sh.jinja", "agent-tenant/start.sh.jinja",
                     "reservation/reservation.sbatch.jinja", "reservation/book.sh.jinja"):
        assert expected in names


def test_the_known_filters_are_the_ones_render_registers():
    env = render.environment()
    for name in KNOWN_FILTERS:
        assert name in env.filters, name
    # Each is sacgen's own function, not a Jinja builtin of the same name.
    for name in KNOWN_FILTERS:
        assert env.filters[name].__module__.startswith("sacgen"), name
    assert env.finalize is shell.finalize
    assert env.autoescape is False
    assert env.undefined is jinja2.StrictUndefined


# --- (a) templates never put quotes of their own around a value --------------

QUOTE_BEFORE = re.compile(r"""['"]\{\{""")
QUOTE_AFTER = re.compile(r"""\}\}['"]""")


@pytest.mark.parametrize("path", TEMPLATES, ids=IDS)
def test_no_hand_quotes_around_a_value(path):
    text = text_of(path)
    bad = [f"{path.name}:{line_no(text, m.start())}: {text.splitlines()[line_no(text, m.start()) - 1].strip()}"
           for rx in (QUOTE_BEFORE, QUOTE_AFTER) for m in rx.finditer(text)]
    assert not bad, "a template quotes a value by hand:\n" + "\n".join(bad)


def _shell_contexts(text: str) -> list[tuple[int, str]]:
    """For each `{{ }}` of a template: (offset, the shell quoting context it sits in).

    A small lexer over the template with the Jinja tags blanked out: NORMAL (a bare
    word: right), COMMENT (after `#`: only for the comment/directive filters), or
    inside '...', "...", $'...' (wrong: the quoted word would carry the quotes
    finalize adds). It knows $( ), ${ }, backslashes and comments, which is all the
    shell the templates use.
    """
    # Blank {% %} and {# #} (keep newlines), and turn each {{ }} into one marker.
    marks = []
    text = re.sub(r"\{#.*?#\}", _blank, text, flags=re.S)
    text = re.sub(r"\{%.*?%\}", _blank, text, flags=re.S)
    out = []
    last = 0
    for m in EXPR.finditer(text):
        out.append(text[last:m.start()])
        marks.append(sum(len(s) for s in out))
        out.append("\x00")
        last = m.end()
    out.append(text[last:])
    src = "".join(out)

    stack = ["N"]  # N normal, S single, D double, A ansi-c, C comment, B ${ }, P $( )
    found: dict[int, str] = {}
    i = 0
    n = len(src)
    while i < n:
        c = src[i]
        top = stack[-1]
        if c == "\x00":
            found[i] = {"N": "NORMAL", "P": "NORMAL", "B": "BRACE", "C": "COMMENT",
                        "S": "SINGLE", "D": "DOUBLE", "A": "ANSI"}[top]
            i += 1
            continue
        if top == "C":
            if c == "\n":
                stack.pop()
            i += 1
            continue
        if top == "S":
            if c == "'":
                stack.pop()
            i += 1
            continue
        if top == "A":
            if c == "\\":
                i += 2
                continue
            if c == "'":
                stack.pop()
            i += 1
            continue
        if c == "\\":
            i += 2
            continue
        if c == "$" and src[i + 1:i + 2] == "(":
            stack.append("P")
            i += 2
            continue
        if c == "$" and src[i + 1:i + 2] == "{":
            stack.append("B")
            i += 2
            continue
        if top == "D":
            if c == '"':
                stack.pop()
            i += 1
            continue
        # N, P, B: unquoted shell.
        if c == "$" and src[i + 1:i + 2] == "'":
            stack.append("A")
            i += 2
            continue
        if c == "'":
            stack.append("S")
        elif c == '"':
            stack.append("D")
        elif c == "(" and top == "P":
            stack.append("P")
        elif c == ")" and top == "P":
            stack.pop()
        elif c == "}" and top == "B":
            stack.pop()
        elif c == "#" and top != "B" and (i == 0 or src[i - 1] in " \t\n;(|&"):
            stack.append("C")
        i += 1
    assert len(found) == len(marks)
    return [(pos, found[pos]) for pos in sorted(found)]


def _expressions(text: str) -> list[tuple[int, str]]:
    return [(m.start(), m.group(1)) for m in EXPR.finditer(text)]


def _outer_filter(expr: str) -> str | None:
    """The filter applied last in `{{ expr }}` (None if the value is not filtered)."""
    tpl = parse("{{ " + expr + " }}")
    out = tpl.body[0]
    assert isinstance(out, nodes.Output)
    node = out.nodes[0]
    return node.name if isinstance(node, nodes.Filter) else None


def test_the_context_lexer_tells_quoted_from_bare():
    ctx = lambda s: [c for _, c in _shell_contexts(s)]  # noqa: E731
    assert ctx("echo {{ x }}\n") == ["NORMAL"]
    assert ctx('echo "{{ x }}"\n') == ["DOUBLE"]
    assert ctx("echo 'a {{ x }}'\n") == ["SINGLE"]
    assert ctx('echo "$dir/{{ x }}"\n') == ["DOUBLE"]
    assert ctx("# it's {{ x|comment }}\necho {{ y }}\n") == ["COMMENT", "NORMAL"]
    assert ctx('a=$(f "$b" {{ x }})\n') == ["NORMAL"]
    assert ctx('s=${s//\\"/\\\\\\"} {{ x }}\n') == ["NORMAL"]
    assert ctx("echo ${x:-{{ y }}}\n") == ["BRACE"]
    assert ctx("x=$'it\\'s' {{ y }}\n") == ["NORMAL"]
    assert ctx("(($#)) && echo {{ y }}\n") == ["NORMAL"]


@pytest.mark.parametrize("path", TEMPLATES, ids=IDS)
def test_every_value_is_a_bare_word_or_in_a_comment(path):
    """Stronger than the regex above: a value inside "..." two characters away is just
    as wrong (it would arrive with finalize's quotes in it)."""
    text = text_of(path)
    exprs = _expressions(text)
    contexts = _shell_contexts(text)
    assert len(exprs) == len(contexts)
    bad = []
    for (pos, expr), (_, where) in zip(exprs, contexts):
        line = text.splitlines()[line_no(text, pos) - 1].strip()
        if where == "COMMENT":
            if _outer_filter(expr) not in ("comment", "directive", "directive_option"):
                bad.append(f"{path.name}:{line_no(text, pos)}: a value in a comment without |comment: {line}")
        elif where != "NORMAL":
            bad.append(f"{path.name}:{line_no(text, pos)}: a value inside {where} quotes: {line}")
    assert not bad, "\n".join(bad)


# --- (b) no way around the finalize hook ---------------------------------------

@pytest.mark.parametrize("path", TEMPLATES, ids=IDS)
def test_no_safe_markup_or_autoescape(path):
    text = text_of(path)
    for rx in (r"\|\s*safe\b", r"\bMarkup\b", r"\{%-?\s*autoescape\b", r"\bmarkup\b",
               r"\{%-?\s*filter\b", r"\{%-?\s*raw\b"):
        m = re.search(rx, text)
        assert m is None, f"{path.name}:{line_no(text, m.start())}: {rx} must not be used"


# --- (c) only the known filters ------------------------------------------------

@pytest.mark.parametrize("path", TEMPLATES, ids=IDS)
def test_only_known_filters(path):
    text = text_of(path)
    tpl = parse(text)
    used = {f.name for f in tpl.find_all(nodes.Filter)}
    assert not list(tpl.find_all(nodes.FilterBlock)), f"{path.name}: {{% filter %}} block"
    unknown = used - KNOWN_FILTERS
    assert not unknown, f"{path.name}: unknown filters {sorted(unknown)}"
    # The regex view agrees with the parser (catches a parse that skipped text).
    regex_used = set()
    for _, expr in _expressions(text):
        regex_used |= set(re.findall(r"\|\s*([A-Za-z_]\w*)", expr))
    assert regex_used - KNOWN_FILTERS == set(), f"{path.name}: {sorted(regex_used - KNOWN_FILTERS)}"
    assert regex_used <= used | KNOWN_FILTERS


def test_the_templates_use_the_filters():
    """The scan is not vacuous: the filters it allows are the ones the templates use."""
    used = set()
    for path in TEMPLATES:
        used |= {f.name for f in parse(text_of(path)).find_all(nodes.Filter)}
    assert used == KNOWN_FILTERS


@pytest.mark.parametrize("path", TEMPLATES, ids=IDS)
def test_comment_and_heredoc_filters_stay_in_place(path):
    """|comment does not quote, so it may only feed a `#` comment; |heredoc only a
    `cat >FILE` or `sac_install FILE` line; |ident only an `export NAME=` position."""
    text = text_of(path)
    for pos, expr in _expressions(text):
        outer = _outer_filter(expr)
        line = text.splitlines()[line_no(text, pos) - 1]
        col = pos - (text.rfind("\n", 0, pos) + 1)
        before, after = line[:col], line[col:]
        where = f"{path.name}:{line_no(text, pos)}: {line.strip()}"
        if outer == "comment":
            assert "#" in before and before.lstrip().startswith("#"), where
        if outer == "heredoc":
            assert re.fullmatch(r"(cat >|sac_install )\"[^\"]+\" |  sac_install \"\$1\" ", before), where
        if outer == "ident":
            assert re.fullmatch(r"\s*(export )?", before) and after.split("}}", 1)[1].startswith("="), where


# --- (d) every #SBATCH value goes through |directive ---------------------------

@pytest.mark.parametrize("path", TEMPLATES, ids=IDS)
def test_sbatch_lines_use_directive(path):
    text = text_of(path)
    sbatch_lines = 0
    for n, line in enumerate(text.splitlines(), 1):
        if "#SBATCH" not in line:
            continue
        sbatch_lines += 1
        assert line.startswith("#SBATCH "), f"{path.name}:{n}: #SBATCH not at the start of the line"
        exprs = EXPR.findall(line)
        assert "{%" not in line, f"{path.name}:{n}: a tag inside an #SBATCH line"
        for expr in exprs:
            assert _outer_filter(expr) in ("directive", "directive_option"), f"{path.name}:{n}: {line}"
    if path.name.endswith(".sbatch.jinja"):
        assert sbatch_lines >= 5


# --- (e) the hook and the filters, on the real environment ---------------------

HOSTILE = ["$(id)", "`id`", "a b", "'", '"', "\\", "x\ny", "*", "?", "[a]", "-rf", "~", "~/x", ";rm",
           "", "é", "$HOME", "!!", "#x", "a'b\"c"]


def from_string(source: str):
    return render.environment().from_string(source)


def test_finalize_quotes_a_printed_value():
    assert from_string("echo {{ x }}").render(x="$(id)") == "echo '$(id)'"
    assert from_string("echo {{ x }}").render(x="plain") == "echo plain"
    assert from_string("echo {{ x }}").render(x="") == "echo ''"
    assert from_string("echo {{ x }}").render(x=3) == "echo 3"
    assert from_string("echo {{ x }}").render(x=True) == "echo true"


@pytest.mark.parametrize("value", HOSTILE)
def test_finalize_makes_one_word_of_exactly_the_value(value, tmp_path):
    script = from_string("printf '%s\\0' {{ x }} {{ y|words }}").render(x=value, y=[value, value])
    r = subprocess.run(["bash", "-c", script], capture_output=True, cwd=tmp_path, env={"HOME": "/nonexistent"})
    assert r.returncode == 0, r.stderr
    assert r.stdout == (value.encode() + b"\0") * 3


def test_the_hook_not_the_template_quotes():
    """Without finalize the same template would print the value raw: the quoting
    comes from the hook."""
    plain = jinja2.Environment(undefined=jinja2.StrictUndefined)
    assert plain.from_string("echo {{ x }}").render(x="$(id)") == "echo $(id)"
    assert from_string("echo {{ x }}").render(x="$(id)") == "echo '$(id)'"
    # A filter's output is Shell and is not quoted twice.
    assert from_string("export {{ k|ident }}={{ v }}").render(k="A_1", v="$x") == "export A_1='$x'"
    assert from_string("{{ p|home }}").render(p="~/a b") == "\"$HOME\"/'a b'"


def test_finalize_refuses_none():
    with pytest.raises(ValueError):
        from_string("echo {{ x }}").render(x=None)


def test_undefined_is_an_error():
    with pytest.raises(jinja2.UndefinedError):
        from_string("echo {{ nope }}").render()


def sbatch_arguments(line: str) -> list[str]:
    """The words sbatch 22.05 reads from one #SBATCH line (src/sbatch/opt.c,
    _get_argument): split at whitespace outside quotes, ' or " quote up to the
    same quote, a backslash takes the next character as it is (also inside
    quotes; outside, it cannot keep whitespace), an unquoted # ends the line."""
    assert line.startswith("#SBATCH")
    s, i, out = line[len("#SBATCH"):], 0, []
    while True:
        while i < len(s) and s[i].isspace():
            i += 1
        if i >= len(s):
            return out
        arg, quote, escape = "", "", False
        while i < len(s) and (quote or not s[i].isspace()):
            c = s[i]
            if escape:
                escape = False
            elif c == "\\":
                escape, i = True, i + 1
                continue
            elif quote:
                if c == quote:
                    quote, i = "", i + 1
                    continue
            elif c in "'\"":
                quote, i = c, i + 1
                continue
            elif c == "#":
                i = len(s)
                break
            arg += c
            i += 1
        assert not quote, f"sbatch: unmatched {quote} in {line!r}"
        if arg:
            out.append(arg)
        if i >= len(s):
            return out


@pytest.mark.parametrize("value", ["a b", "a'b", 'a"b', "$(id)", "`id`", "a;b", "é ✓", "a\\b", "*", "a#b",
                                   "'", '"', "\\", "x\\", "\\'", "#", " lead", "trail ", "it's a \"x\" #1 \\n"])
def test_directive_reaches_sbatch_as_written(value):
    """Whatever the schema lets through comes back from sbatch's reading of the
    line byte for byte, as one word."""
    assert sbatch_arguments(f"#SBATCH --comment={shell.directive(value)}") == [f"--comment={value}"]
    word = shell.directive_option(f"--comment={value}")
    assert sbatch_arguments(f"#SBATCH {word}") == [f"--comment={value}"]


@pytest.mark.parametrize("value", ["", "a\tb", "a\nb", "\nx", "x\x7f", "a\rb"])
def test_directive_refuses_what_cannot_be_on_one_line(value):
    with pytest.raises(ValueError):
        shell.directive(value)


@pytest.mark.parametrize("value", ["gpu\n", "a\n"])
def test_directive_refuses_a_trailing_newline(value):
    """KNOWN BUG: `_SAFE_DIRECTIVE.match` with `$` accepts one trailing newline."""
    with pytest.raises(ValueError):
        shell.directive(value)


@pytest.mark.parametrize("value", ["gpu", "sac-x", "16G", "B:USR1@3600", "7-00:00:00", 4])
def test_directive_passes_plain_values(value):
    assert shell.directive(value) == str(value)


@pytest.mark.parametrize("value", ["1A", "A-B", "A B", "", "$A", "A=B", "é", "A;B", "A\nB", "-A"])
def test_ident_refuses_a_bad_name(value):
    with pytest.raises(ValueError):
        shell.ident(value)


@pytest.mark.parametrize("value", ["A\n", "PATH\n"])
def test_ident_refuses_a_trailing_newline(value):
    """KNOWN BUG: `_IDENT.match` with `$` accepts one trailing newline, so
    `export {{ key|ident }}=...` would become `export A` + a command line `=...`."""
    with pytest.raises(ValueError):
        shell.ident(value)


@pytest.mark.parametrize("value", ["A", "_", "a_1", "PATH"])
def test_ident_passes_names(value):
    assert shell.ident(value) == value


@pytest.mark.parametrize("body", [
    "", "x\n", "SAC_EOF\n", "SAC_EOF\nSAC_EOF_1\n", "a\nSAC_EOF\nSAC_EOF_1\nSAC_EOF_2\nb\n",
    " SAC_EOF\nSAC_EOF \n", "'SAC_EOF'\n", "$(id)\n`id`\n\\\n",
])
def test_heredoc_delimiter_is_never_a_body_line(body, tmp_path):
    doc = shell.heredoc(body)
    first, rest = doc.split("\n", 1)
    delim = re.fullmatch(r"<<'([A-Za-z0-9_]+)'", first).group(1)
    assert delim not in body.split("\n")
    assert rest == body + delim
    # And bash agrees: the file written is the body, byte for byte, unexpanded.
    out = tmp_path / "f"
    r = subprocess.run(["bash", "-c", f"cat >{out} {doc}\n"], capture_output=True, env={"HOME": "/nonexistent"})
    assert r.returncode == 0, r.stderr
    assert out.read_bytes() == body.encode()


def test_heredoc_needs_a_final_newline():
    with pytest.raises(ValueError):
        shell.heredoc("no newline")


def test_comment_keeps_one_line():
    for value in ["a\nb", "a\rb", "x\x1b[31m", "\x7f"]:
        assert "\n" not in shell.comment(value) and "\r" not in shell.comment(value)


def test_home_expands_only_a_leading_tilde():
    assert shell.home_path("~") == '"$HOME"'
    assert shell.home_path("~/") == '"$HOME"/'
    assert shell.home_path("~/a") == '"$HOME"/a'
    assert shell.home_path("/abs/~") == "'/abs/~'"
    assert shell.home_path("/$HOME") == "'/$HOME'"


def test_a_relative_path_is_in_the_home_never_an_option_nor_looked_up():
    """`cd -- -` would be `cd "$OLDPWD"`, `source h.sh` searches PATH, `cd work`
    searches CDPATH; and the scripts run in different folders (the login shell's
    home, the job's folder): a relative path is the home's."""
    assert shell.home_path("-") == '"$HOME"/-'
    assert shell.home_path("-x/h.sh") == '"$HOME"/-x/h.sh'
    assert shell.home_path("h.sh") == '"$HOME"/h.sh'
    assert shell.home_path("work dir") == '"$HOME"/' + "'work dir'"
    assert shell.home_path("./a") == '"$HOME"/./a'
    assert shell.home_path("~root/a") == '"$HOME"/' + "'~root/a'"
    assert shell.home_path("$HOME") == '"$HOME"/' + "'$HOME'"


def test_program_is_a_name_or_a_path():
    assert shell.program("claude") == "claude"
    assert shell.program("-x") == "-x"  # a name: looked up on PATH, never an option of exec --
    assert shell.program("-x/agent") == "./-x/agent"
    assert shell.program("bin/agent") == "bin/agent"
    assert shell.program("~/bin/a b") == "\"$HOME\"/'bin/a b'"
    assert shell.program("/usr/bin/claude") == "/usr/bin/claude"


def test_a_hostile_spec_renders_quoted(tmp_path):
    """Through the real pipeline: YAML -> load_specs -> render, each value arrives
    as one quoted word of its own."""
    data = {"apiVersion": "scitex-agent-container/v3", "kind": "Agent",
            "spec": {"runtime": "slurm", "model": "$(id)", "workdir": "`id`",
                     "env": {"X": "$(id) 'q' \"d\""},
                     "claude": {"command": "~/bin/$(id)", "flags": ["--x=$(id)", "a b", "*"]}}}
    p = tmp_path / "hostile.yaml"
    p.write_text(yaml.safe_dump(data))
    (spec,) = load_specs([str(p)])
    session = {a.name: a.text for a in render.render(spec)}["session.sh"]
    assert f"\n    X={shell.word(data['spec']['env']['X'])} \\\n" in session
    assert "workdir=\"$HOME\"/'`id`'\n" in session
    assert "agent=(\"$HOME\"/'bin/$(id)' --model '$(id)' '--x=$(id)' 'a b' '*')\n" in session
