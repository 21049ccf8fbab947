"""`sac` builds only the command group it runs; what it parses and says is the same
as with the whole parser."""

import contextlib
import io

import pytest

from sacgen.cli_sac import parser

LINES = [
    ["--help"], ["--version"], [], ["bogus"], ["agent"], ["agent", "--help"], ["agent", "bogus"],
    ["agent", "status", "--help"], ["agent", "status"], ["agent", "status", "x", "--json"],
    ["agent", "logs", "x", "-n", "5"], ["agent", "start", "--all", "--dry-run"], ["agent", "stop", "--all"],
    ["list"], ["list", "--json"], ["list", "--help"], ["list", "extra"],
    ["run", "s.sh", "--host", "h", "a", "b"], ["run", "--help"],
    ["reservations", "get", "p", "--json"], ["reservations", "book", "p"], ["reservations", "--help"],
    ["--", "list"], ["-h", "agent"],
]


def _outcome(p, argv):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            result = vars(p.parse_args(argv))
            code = 0
        except SystemExit as e:
            result, code = None, e.code
    return result, code, out.getvalue(), err.getvalue()


@pytest.mark.parametrize("argv", LINES, ids=" ".join)
def test_the_parser_for_a_command_line_parses_and_speaks_as_the_whole_one(argv):
    assert _outcome(parser(argv), argv) == _outcome(parser(), argv)
