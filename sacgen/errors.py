"""Errors that reach the user as one clear line, never as a traceback.

Exit status follows the interface: 1 the operation failed, 2 bad input or usage,
3 the host could not be reached.
"""

from __future__ import annotations

from collections import namedtuple

# Records are namedtuples and small classes, not dataclasses: importing
# dataclasses (and inspect with it) would cost every `sac` call several ms.


class Problem(namedtuple("Problem", "file line field message")):
    """One thing wrong with one input file: FILE:LINE: FIELD.PATH: message; or,
    line None, with a path given that is no file of YAML: PATH: message."""

    __slots__ = ()

    def __str__(self) -> str:
        if self.line is None:
            return f"{self.file}: {self.message}"
        field = self.field or "(document)"
        return f"{self.file}:{self.line}: {field}: {self.message}"


class SacError(Exception):
    """An error with a user-facing message and an exit status."""

    status = 1

    def __init__(self, message: str, *, detail: str = "", status: int | None = None):
        super().__init__(message)
        self.message = message
        self.detail = detail
        if status is not None:
            self.status = status

    def render(self, prog: str) -> str:
        """What the user sees on stderr: one line, then any detail."""
        text = f"{prog}: {self.message}"
        return f"{text}\n{self.detail}" if self.detail else text


class UsageError(SacError):
    status = 2


class SpecError(SacError):
    """One or more problems with input files (exit 2)."""

    status = 2

    def __init__(self, problems: list[Problem]):
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))

    def render(self, prog: str) -> str:
        return self.message


class OperationFailed(SacError):
    status = 1


class HostUnreachable(SacError):
    status = 3


class Terminated(BaseException):
    """SIGTERM or SIGHUP arrived (sacgen.compile.build raises it so that cleanup runs);
    like KeyboardInterrupt, not an Exception."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum
