"""The documentation stays true: generated references are fresh, every command
line shown in README.md and docs/ parses with the real parsers, every YAML shown
with its file name validates, every error message quoted in
docs/troubleshooting.md is one the code can print, and links resolve."""

from __future__ import annotations

import re
import shlex
import sys
from pathlib import Path

import pytest

from sacgen.cli.parsers import hpc_parser, sac_parser, sacgen_parser
from sacgen.compile.specs import load_specs

from .conftest import ROOT

sys.path.insert(0, str(ROOT / "tools"))
import docsgen  # noqa: E402  (tools/ is not a package: it is run by make docs)

DOCS = ROOT / "docs"
GENERATED = {docsgen.YAML_REFERENCE, docsgen.CLI_REFERENCE}
PARSERS = {"sac": sac_parser, "sacgen": sacgen_parser, "scitex-hpc": hpc_parser}


def written_docs() -> list[Path]:
    """README.md and the hand-written pages of docs/."""
    return [ROOT / "README.md"] + sorted(p for p in DOCS.glob("*.md") if p.name not in GENERATED)


def code_blocks(path: Path) -> list[tuple[str, int, list[str]]]:
    """(info string, line of the first body line, body lines) of each fenced block."""
    out, info, start, body = [], None, 0, []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        m = re.match(r"^\s*```(.*)$", line)
        if m and info is None:
            info, start, body = m.group(1).strip(), n + 1, []
        elif m and info is not None:
            out.append((info, start, body))
            info = None
        elif info is not None:
            body.append(line)
    assert info is None, f"{path.name}: unclosed code block"
    return out


def command_lines(path: Path):
    """Each sac / sacgen / scitex-hpc command in a shell (or plain) code block."""
    for info, start, body in code_blocks(path):
        if info not in ("", "sh", "bash", "console", "shell"):
            continue
        joined, first = "", None
        for i, line in enumerate(body):
            if first is None:
                first = start + i
            if line.rstrip().endswith("\\"):
                joined += line.rstrip()[:-1] + " "
                continue
            text, line_no = joined + line, first
            joined, first = "", None
            text = text.strip()
            if text.startswith("$ "):
                text = text[2:]
            lex = shlex.shlex(text, posix=True, punctuation_chars=True)
            lex.whitespace_split = True
            lex.commenters = "#"
            try:
                words = list(lex)
            except ValueError:
                continue
            while words and re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", words[0]):
                words.pop(0)  # VAR=value prefixes
            if words and words[0] in PARSERS:
                cut = next((i for i, w in enumerate(words) if w in ("|", "||", "&&", ";", ">", ">>", "<", "&")),
                           len(words))
                yield pytest.param(words[0], words[1:cut], id=f"{path.name}:{line_no}")


ALL_COMMANDS = [c for p in written_docs() for c in command_lines(p)]


def test_generated_references_are_fresh():
    for name, text in docsgen.generate().items():
        path = DOCS / name
        assert path.is_file(), f"docs/{name} is missing: run `make docs`"
        assert path.read_text(encoding="utf-8") == text, (
            f"docs/{name} is stale: run `make docs` and commit the result")


def test_docsgen_check_mode(tmp_path, capsys):
    assert docsgen.main(["--check", "--out", str(tmp_path)]) == 1
    assert docsgen.main(["--out", str(tmp_path)]) == 0
    assert docsgen.main(["--check", "--out", str(tmp_path)]) == 0
    assert {p.name for p in tmp_path.iterdir()} == GENERATED


def test_cli_reference_covers_every_command():
    text = (DOCS / docsgen.CLI_REFERENCE).read_text(encoding="utf-8")

    def walk(prog, p):
        yield prog
        for a in p._actions:
            if isinstance(getattr(a, "choices", None), dict):
                for name, sub in a.choices.items():
                    yield from walk(f"{prog} {name}", sub)

    for prog, make in PARSERS.items():
        for command in walk(prog, make()):
            assert f"`{command}`" in text, command


def test_the_docs_show_commands():
    guide = [c for c in ALL_COMMANDS if c.id.startswith("guide.md:")]
    assert len(guide) >= 20
    shown = {" ".join([c.values[0], *c.values[1][:2]]) for c in guide}
    for cmd in ("sac agent start", "sac agent status", "sac agent attach", "sac agent logs", "sac agent stop",
                "sac agent migrate", "sac list", "sac reservations book", "sac reservations get",
                "sac reservations list", "sac reservations refresh", "sac reservations release",
                "scitex-hpc reservations book", "scitex-hpc reservations release"):
        assert cmd in shown, cmd


@pytest.mark.parametrize("prog,argv", ALL_COMMANDS)
def test_command_line_in_docs_parses(prog, argv):
    try:
        PARSERS[prog]().parse_args(argv)
    except SystemExit as e:  # argparse's way of saying no (or of --version, which exits 0)
        if e.code == 0 and argv in (["--version"], ["-h"], ["--help"]):
            return
        pytest.fail(f"`{prog} {shlex.join(argv)}` does not parse (exit {e.code})")


def yaml_examples():
    """YAML blocks whose first line names their file (`# dir/name.yaml`)."""
    for path in written_docs():
        for info, start, body in code_blocks(path):
            if info == "yaml" and body and re.match(r"^# [\w./-]+\.ya?ml$", body[0]):
                name = body[0][2:]
                if "apiVersion:" in "\n".join(body):
                    yield pytest.param(name, "\n".join(body) + "\n", id=f"{path.name}:{start}")


@pytest.mark.parametrize("name,text", list(yaml_examples()))
def test_yaml_example_in_docs_validates(name, text, tmp_path):
    f = tmp_path / name
    f.parent.mkdir(parents=True, exist_ok=True)
    f.write_text(text, encoding="utf-8")
    (spec,) = load_specs([str(f)])
    assert spec.name == Path(name).stem


def test_readme_has_the_yaml_of_both_runtimes():
    runtimes = {re.search(r"runtime: (\S+)", t).group(1) for _, t in (p.values for p in yaml_examples())}
    assert runtimes == {"slurm", "slurm-tenant"}


# ----------------------------------------------------------------------------- messages

def source_text() -> str:
    """Every string the code can print: templates and Python, with adjacent
    string literals joined the way Python joins them."""
    parts = [p.read_text(encoding="utf-8") for p in sorted((ROOT / "templates").rglob("*.jinja"))]
    parts += [p.read_text(encoding="utf-8") for p in sorted((ROOT / "templates" / "lib").glob("*.sh"))]
    for p in sorted((ROOT / "sacgen").rglob("*.py")):
        text = p.read_text(encoding="utf-8")
        text = re.sub(r'"\s*\n\s*(?:[rRfF]{1,2})?"', "", text)
        text = text.replace("{MANIFEST}", "manifest.json")
        parts.append(text)
    return "\n".join(parts)


def quoted_messages():
    """Messages in docs/troubleshooting.md: the lines of ```text blocks and the
    code spans of the first column of its tables."""
    path = DOCS / "troubleshooting.md"
    for info, start, body in code_blocks(path):
        if info == "text":
            for i, line in enumerate(body):
                if line.strip():
                    yield pytest.param(line.strip(), id=f"line {start + i}")
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if line.startswith("| ") and not line.startswith("| message") and not line.startswith("|---"):
            first = line[2:].split(" | ", 1)[0]
            for m in re.finditer(r"(`+)(.+?)\1", first):
                yield pytest.param(m.group(2).strip(), id=f"line {n}")


SOURCE = source_text()


@pytest.mark.parametrize("message", list(quoted_messages()))
def test_quoted_message_is_printed_by_the_code(message):
    # <placeholders> (with the quotes around them) stand for values; the rest is literal.
    fragments = [f for f in re.split(r"'?<[^<>]+>'?", message) if f.strip()]
    assert fragments, message
    for fragment in fragments:
        assert fragment in SOURCE, f"{fragment!r} (from {message!r}) is not in templates/ or sacgen/"


def test_troubleshooting_quotes_many_messages():
    assert len(list(quoted_messages())) >= 60


# ----------------------------------------------------------------------------- links

@pytest.mark.parametrize("path", written_docs() + [DOCS / n for n in sorted(GENERATED)], ids=lambda p: p.name)
def test_relative_links_resolve(path):
    text = path.read_text(encoding="utf-8")
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if re.match(r"^[a-z]+:", target):
            continue
        file, _, anchor = target.partition("#")
        dest = (path.parent / file).resolve() if file else path
        assert dest.exists(), f"{path.name}: broken link {target}"
        if anchor and dest.suffix == ".md":
            headings = [h for h in re.findall(r"^#+ (.+)$", dest.read_text(encoding="utf-8"), re.M)]
            anchors = {re.sub(r"[^\w\- ]", "", h.lower()).replace(" ", "-") for h in headings}
            assert anchor in anchors, f"{path.name}: no heading for #{anchor} in {dest.name}"


def test_readme_essentials():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(text.splitlines()) <= 200, "README.md is for a newcomer: at most 200 lines (the rest: docs/guide.md)"
    head = text[: text.index("## Quick start")]
    assert "make demo" in head and "make test" in head
    assert "```mermaid" in head
    for heading in ("## Quick start", "## What survives what", "## Common problems", "## Documentation"):
        assert heading in text, heading
    quick = next(body for info, _, body in code_blocks(ROOT / "README.md") if info == "sh" and
                 any(line.startswith("pipx install") for line in body))
    assert len(quick) <= 10 and any("uv tool install" in line for line in quick)
    for doc in ("guide.md", "yaml-reference.md", "cli-reference.md", "how-it-works.md", "troubleshooting.md",
                "design.md", "ci.md", "reliability.md", "performance.md"):
        assert f"(docs/{doc})" in text, f"README.md does not link docs/{doc}"


def test_what_moved_out_of_the_readme_is_in_docs():
    guide = (DOCS / "guide.md").read_text(encoding="utf-8")
    for var in ("SAC_HOME", "SAC_SSH", "SAC_HOST", "SCITEX_AGENT_CONTAINER_YAML_DIRS", "SAC_SSH_CONTROL",
                "SAC_SSH_PERSIST", "SAC_SSH_TIMEOUT", "SAC_REMOTE_HOME"):
        assert f"| `{var}` |" in guide, var
    perf = (DOCS / "performance.md").read_text(encoding="utf-8")
    assert perf.startswith("# Performance")
    assert "Figures: see bench/results.md (`make bench`)." in perf


# ----------------------------------------------------------------------------- commands that run here

RUN_HERE = (ROOT / "README.md", DOCS / "guide.md", DOCS / docsgen.YAML_REFERENCE)


def runnable_lines():
    """The `sacgen ...` lines (and `sac --version`) of README.md, the guide and
    the YAML reference's Editors section: they need no cluster."""
    for path in RUN_HERE:
        for info, start, body in code_blocks(path):
            if info not in ("", "sh", "bash", "console", "shell"):
                continue
            for i, line in enumerate(body):
                text = line.strip()
                text = text[2:] if text.startswith("$ ") else text
                if text.startswith("sacgen ") or text.split("#")[0].split() == ["sac", "--version"]:
                    yield pytest.param(text, id=f"{path.name}:{start + i}")


def test_the_readme_and_guide_show_runnable_commands():
    ids = [p.id for p in runnable_lines()]
    assert any(i.startswith("README.md:") for i in ids) and any(i.startswith("guide.md:") for i in ids), ids
    shown = " ".join(p.values[0] for p in runnable_lines())
    for cmd in ("sacgen validate examples", "sacgen build examples -o build", "sacgen schema --kind Agent"):
        assert cmd in shown, cmd


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    """A folder with the examples (and an empty agents/), where the lines run in order."""
    import shutil

    work = tmp_path_factory.mktemp("docs-run")
    shutil.copytree(ROOT / "examples", work / "examples")
    (work / "agents").mkdir()
    return work


@pytest.mark.parametrize("line", list(runnable_lines()))
def test_a_command_shown_in_the_docs_runs(line, workspace):
    import os
    import subprocess
    import sys

    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
               SAC_HOME=str(workspace / ".sac-home"))
    r = subprocess.run(["bash", "-c", line], cwd=workspace, env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, f"`{line}` exited {r.returncode}: {r.stderr}"
    assert "Traceback" not in r.stderr
