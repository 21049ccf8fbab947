"""The one place where values become shell text.

Templates never quote: every `{{ value }}` passes through `finalize` below and
comes out as exactly one shell word (shlex.quote). Text that is already shell --
the output of the filters here -- is marked `Shell` and passes unchanged.
"""

from __future__ import annotations

import re
import shlex

# Printable ASCII but for what sbatch's reading of an #SBATCH line gives a
# meaning (whitespace, quotes, backslash, `#`): such a value stands as it is.
_SAFE_DIRECTIVE = re.compile(r"[\x21\x24-\x26\x28-\x5b\x5d-\x7e]+")
_OPTION = re.compile(r"--[A-Za-z0-9][A-Za-z0-9_-]*")
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class Shell(str):
    """Text that is already valid shell (made by one of the functions here)."""


def word(value) -> Shell:
    """One shell word whose value is exactly `value`."""
    if isinstance(value, bool):
        value = "true" if value else "false"
    text = str(value)
    if "\x00" in text:  # the schema refuses it first; bash cannot hold one
        raise ValueError("a shell word cannot contain a NUL byte")
    if text.startswith("="):  # `a==x` and `(=x)` are right, but read as typos by everyone
        return Shell("'" + text.replace("'", "'\\''") + "'")
    return Shell(shlex.quote(text))


def words(values) -> Shell:
    """Several shell words, one per item, byte for byte."""
    return Shell(" ".join(word(v) for v in values))


def finalize(value) -> str:
    """Jinja finalize hook: whatever a template prints is quoted unless already Shell."""
    if isinstance(value, Shell):
        return value
    if value is None:
        raise ValueError("a template printed a missing (None) value")
    return word(value)


def directive(value) -> Shell:
    """A value inside an #SBATCH line, as sbatch reads those lines (not the shell).

    sbatch splits an #SBATCH line into words at whitespace, ends it at a `#`,
    takes a quote (' or ") up to the same quote again as part of the word, and a
    backslash as "the next character as it is", inside quotes too (but it cannot
    keep whitespace outside quotes). So a value of printable ASCII without those
    is written as it is, and any other in single quotes, with a backslash before each
    backslash and single quote in it: sbatch reads back the value byte for byte.
    A line break or other control character cannot be in one line: the schema
    refuses it first, and this asserts it."""
    text = str(value)
    if _SAFE_DIRECTIVE.fullmatch(text):
        return Shell(text)
    if not text or _CONTROL.search(text):
        raise ValueError(f"value {text!r} cannot be placed in an #SBATCH line")
    return Shell("'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'")


def directive_option(word) -> Shell:
    """One option word for an #SBATCH line, `--name` or `--name=value` (as the
    schema admits extra_directives): the name as it is, the value as directive()
    writes it."""
    text = str(word)
    name, eq, value = text.partition("=")
    if not _OPTION.fullmatch(name):
        raise ValueError(f"{text!r} is not an --option word")
    return Shell(name + eq + directive(value)) if eq and value else Shell(name + eq)


def idents(values) -> Shell:
    """Shell variable names, space-separated (each checked, never quoted)."""
    return Shell(" ".join(ident(v) for v in values))


def ident(value) -> Shell:
    """A shell variable name (checked, never quoted)."""
    text = str(value)
    if not _IDENT.fullmatch(text):
        raise ValueError(f"{text!r} is not a shell variable name")
    return Shell(text)


def comment(value) -> Shell:
    """Text for a `#` comment: on one line whatever it contains."""
    text = str(value)
    if _CONTROL.search(text):
        text = text.encode("unicode_escape").decode("ascii")
    return Shell(text)


def heredoc(body: str, stem: str = "SAC_EOF") -> Shell:
    """A here-document body with a quoted delimiter (no expansion inside), made of
    the text exactly. The delimiter is chosen so that no line of the body equals it.
    The opening `<<'DELIM'` comes first, so write `cat > f {{ text|heredoc }}`."""
    lines = body.split("\n")
    delim = stem
    n = 0
    while delim in lines:
        n += 1
        delim = f"{stem}_{n}"
    if body and not body.endswith("\n"):
        raise ValueError("a here-document body must end with a newline")
    return Shell(f"<<'{delim}'\n{body}{delim}")


def home_path(value) -> Shell:
    """A path word for the cluster: `~`, `~/x` and a relative `x` all mean a place
    in the home directory where the script runs (on the cluster, not on the
    laptop), whatever folder the script is in. So no command can take the path for
    an option (`-x`), look it up on PATH (`source hook.sh`) or in CDPATH (`cd work`)."""
    text = str(value)
    if text.startswith("/"):
        return word(text)
    if text == "~":
        return Shell('"$HOME"')
    rest = text[2:] if text.startswith("~/") else text
    return Shell('"$HOME"/' + word(rest)) if rest else Shell('"$HOME"/')


def program(value) -> Shell:
    """The agent's command: a name is looked up on PATH; a path is used as it is
    (`~` as in home_path), with `./` in front of a relative one that starts with `-`
    so that an interpreter started for it does not read it as an option."""
    text = str(value)
    if "/" in text and not text.startswith(("/", "~/")):
        return word(text if not text.startswith("-") else "./" + text)
    return home_path(text) if text.startswith("~/") else word(text)
