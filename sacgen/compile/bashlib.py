"""The generated scripts' helper library: the plain bash files of templates/lib.

Each file defines one helper function (sac_json.sh: sac_json), but globals.sh,
which sets the per-user state every helper reads (sac_root, sac_user, sac_host)
and declares the helpers' result variables. This module knows what each file
defines and which helpers each one calls, and from that:

- the cut of the library a script needs (Library.closure): the files whose
  names the script's own code uses, and the files those use, and so on; a
  script carries these, and only these, after its main function, each block
  headed by the file it comes from (`# :lib/sac_json.sh`);
- for a batch of scripts sent over one connection (run.remote.compose), the
  helper functions of all of them defined once, ahead of the steps
  (Library.hoist): each step's subshell inherits them.

A rendered script's helper section starts with the line SECTION, right after
its main function; its blocks are read back by their `# :lib/FILE` lines and
taken only when their text is the library's own, byte for byte.

Plain os.path and re: remote.compose loads this for `sac` calls.
"""

from __future__ import annotations

import os
import re
from functools import lru_cache

from ..paths import template_root

# The first line of a script's helper section (its own code ends just above).
SECTION = "# :helpers -- the functions main calls, each from sacgen's templates/lib\n"
# The first line of each block of the section: BLOCK + the file's name.
BLOCK = "# :lib/"

_DEFINITION = re.compile(r"^(\w+)\(\) \{$", re.M)
_ASSIGNMENT = re.compile(r"^(sac_\w+)=", re.M)
_WORD = re.compile(r"\bsac_\w+")
_COMMENT_LINE = re.compile(r"(?m)^[ \t]*#.*$")


def _code(text: str) -> str:
    """TEXT without its comment lines (a helper named in a comment is not called)."""
    return _COMMENT_LINE.sub("", text)


class Library:
    """The files of a templates/lib folder. files: their names, in the order a
    script carries them (the files with top-level code first, then by name)."""

    def __init__(self, folder: str):
        texts = {}
        for name in os.listdir(folder):
            if name.endswith(".sh"):
                with open(os.path.join(folder, name), encoding="utf-8") as f:
                    texts[name] = f.read()
        self.text: dict[str, str] = texts
        self.defines: dict[str, list[str]] = {}  # file -> the functions it defines
        self.provides: dict[str, set[str]] = {}  # file -> its functions and sac_* variables
        self.functions_only: dict[str, bool] = {}  # file -> nothing but function definitions
        for name, text in texts.items():
            functions = _DEFINITION.findall(text)
            self.defines[name] = functions
            self.provides[name] = set(functions) | set(_ASSIGNMENT.findall(text))
            self.functions_only[name] = bool(functions) and self._top_level(text) == ""
        self.owner: dict[str, str] = {}
        for name in sorted(texts):
            for word in self.provides[name]:
                if word in self.owner:
                    raise ValueError(f"templates/lib: {word} is in both {self.owner[word]} and {name}")
                self.owner[word] = name
        self.calls: dict[str, set[str]] = {name: self.uses(texts[name]) - {name} for name in texts}
        self.files: list[str] = sorted(texts, key=lambda n: (self.functions_only[n], n))
        self._rank = {name: i for i, name in enumerate(self.files)}

    @staticmethod
    def _top_level(text: str) -> str:
        """The code of TEXT outside its function definitions (each ends at the
        first `}` in column 0)."""
        out, inside = [], False
        for line in _code(text).splitlines():
            if inside:
                inside = line != "}"
            elif _DEFINITION.fullmatch(line):
                inside = True
            elif line.strip():
                out.append(line)
        return "\n".join(out)

    def uses(self, code: str) -> set[str]:
        """The files whose names CODE uses outside its comment lines."""
        return {self.owner[w] for w in _WORD.findall(_code(code)) if w in self.owner}

    def closure(self, code: str) -> list[str]:
        """The files a script whose own code is CODE needs, in the order it
        carries them."""
        need: set[str] = set()
        todo = self.uses(code)
        while todo:
            name = todo.pop()
            need.add(name)
            todo |= self.calls[name] - need
        return sorted(need, key=self._rank.__getitem__)

    def block(self, name: str) -> str:
        return f"\n{BLOCK}{name}\n{self.text[name]}"

    def section(self, names: list[str]) -> str:
        """The helper section carrying NAMES ("" for none), without its last newline."""
        if not names:
            return ""
        return ("\n" + SECTION + "".join(self.block(n) for n in names)).rstrip("\n")

    def blocks(self, script: str) -> list[tuple[str, int, int]]:
        """The blocks of SCRIPT's helper section: (file, start, end) each, in the
        order they come, as long as their text is the library's own."""
        at = script.find("\n" + SECTION)
        if at < 0:
            return []
        pos = at + 1 + len(SECTION)
        out = []
        while script.startswith("\n" + BLOCK, pos):
            eol = script.find("\n", pos + 1)
            name = script[pos + 1 + len(BLOCK):eol]
            if name not in self.text or not script.startswith(self.text[name], eol + 1):
                break  # a script made from another library: it keeps the rest as it is
            end = eol + 1 + len(self.text[name])
            out.append((name, pos, end))
            pos = end
        return out

    def hoist(self, scripts: list[str]) -> tuple[str, list[str]]:
        """The helper functions that SCRIPTS carry, each defined once (text to run
        ahead of them), and the scripts without those. Each script still sees
        every function it defined, as it defined it (and may see more sac_*
        helpers, which it never calls); what is not only function definitions
        (globals.sh: the state that each script computes in its own
        environment) stays in each script."""
        union: set[str] = set()
        out = []
        for script in scripts:
            pieces, at = [], 0
            for name, start, end in self.blocks(script):
                if self.functions_only[name]:
                    union.add(name)
                    pieces.append(script[at:start])
                    at = end
            out.append("".join(pieces) + script[at:] if pieces else script)
        if not union:
            return "", scripts
        common = "".join(self.block(n) for n in sorted(union, key=self._rank.__getitem__))
        return common.lstrip("\n"), out


@lru_cache(maxsize=None)
def library() -> Library:
    """The library of sacgen's templates (the source tree's, or the wheel's)."""
    return Library(os.path.join(template_root(), "lib"))
