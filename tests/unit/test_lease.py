"""`lease`: the command lines of both programs, and how `lease exec` tells the
command's bytes and exit status from everything else (run.remote)."""

from __future__ import annotations

import os
import random

import pytest

from sacgen.cli.parsers import hpc_parser, sac_parser
from sacgen.cli.sac import _main, hpc_main, main
from sacgen.errors import UsageError
from sacgen.run import remote
from sacgen.run.remote import Step, _Marks, run_passthrough
from sacgen.run.reservations import node_arg

MARK = "0123456789abcdef0123456789abcdef"


def feed(chunks):
    out = bytearray()
    marks = _Marks(MARK, out.extend)
    for c in chunks:
        marks.feed(c)
    closed = marks.close()
    return marks, bytes(out), closed


def chopped(data: bytes, seed: int) -> list[bytes]:
    rnd = random.Random(seed)
    out, i = [], 0
    while i < len(data):
        n = rnd.choice([1, 1, 2, 3, 7, 64])
        out.append(data[i:i + n])
        i += n
    return out


BODY = b"\0\x01\xff\r\nbanner? @sac-exec no\n@sac-exit " + b"f" * 32 + b" 9\n@sac-ex"


@pytest.mark.parametrize("seed", range(20))
def test_the_bytes_between_the_marks_are_the_commands_in_any_chunking(seed):
    stream = (b"login noise\n@sac-begin\n@sac-exec " + MARK.encode() + b"\n" + BODY
              + b"@sac-exit " + MARK.encode() + b" 42\n\n@sac-end 0 0\n")
    marks, out, (status, ended) = feed(chopped(stream, seed))
    assert out == BODY and (status, ended) == (42, 0) and marks.started
    assert marks.head == b"login noise\n@sac-begin\n"


def test_output_is_written_as_it_comes_but_a_possible_end_mark():
    out = bytearray()
    marks = _Marks(MARK, out.extend)
    marks.feed(b"@sac-exec " + MARK.encode() + b"\nline one\nprogress 10%\r")
    assert bytes(out) == b"line one\nprogress 10%\r"
    marks.feed(b"tail @sac-exit 01")
    assert bytes(out) == b"line one\nprogress 10%\rtail "
    marks.feed(b"x")  # not the mark after all
    assert bytes(out).endswith(b"tail @sac-exit 01x")


def test_no_end_mark_gives_everything_and_no_status():
    marks, out, (status, ended) = feed([b"@sac-exec " + MARK.encode() + b"\npartial @sac-exit " + MARK.encode()[:5]])
    assert out == b"partial @sac-exit " + MARK.encode()[:5] and (status, ended) == (None, None)


def test_no_start_mark_is_sacs_result_or_a_step_that_never_ran():
    marks, out, (status, ended) = feed([b"@sac-begin\nsrun: noise\n\n@sac-end 0 1\n"])
    assert (out, marks.started, status, ended) == (b"", False, None, 1)
    # A start mark that is not this call's is no start mark.
    marks, out, _ = feed([b"@sac-exec " + b"f" * 32 + b"\nx"])
    assert (out, marks.started) == (b"", False)


def run_local(script: str, tmp_path, args=()):
    out, err = tmp_path / "out", tmp_path / "err"
    with open(out, "wb") as o, open(err, "wb") as e:
        p = run_passthrough("localhost", Step(script, tuple(args), "t", private=True), MARK, o.fileno(), e.fileno())
    return p, out.read_bytes(), err.read_bytes()


def test_run_passthrough_streams_bytes_and_keeps_the_status(tmp_path):
    script = ('printf "@sac-exec %s\\n" "$1"; printf "%s\\0" "${@:2}"; echo to-stderr >&2; '
              'printf "@sac-exit %s 3\\n" "$1"')
    words = ["$(id)", "new\nline", "", "caf\udce9"]
    p, out, err = run_local(script, tmp_path, [MARK, *words])
    assert (p.begun, p.started, p.status, p.ended) == (True, True, 3, 0)
    assert out.split(b"\0")[:-1] == [os.fsencode(w) for w in words]
    assert err == b"to-stderr\n"


def test_run_passthrough_reads_a_refusal_before_any_mark(tmp_path):
    p, out, err = run_local("printf '\\n@sac-result {\"ok\":false,\"status\":2,\"error\":\"no\"}\\n'; exit 2",
                            tmp_path)
    assert (p.started, p.status, p.ended, out) == (False, None, 2, b"")
    assert p.results == [{"ok": False, "status": 2, "error": "no"}]


def test_an_unreachable_host_is_exit_3(monkeypatch, tmp_path):
    monkeypatch.setenv("SAC_SSH", "sh -c 'exit 255' ssh")
    with pytest.raises(remote.HostUnreachable):
        run_passthrough("nowhere", Step("true", (), "t"), MARK)


def parse_both(argv):
    return [p.parse_args(argv) for p in (sac_parser(argv), hpc_parser())]


def test_lease_has_the_verbs_of_reservations_with_cancel_and_exec_and_attach():
    for p in (sac_parser(), hpc_parser()):
        groups = next(a for a in p._actions if a.dest == "group").choices
        lease = next(a for a in groups["lease"]._actions if a.dest == "verb").choices
        res = next(a for a in groups["reservations"]._actions if a.dest == "verb").choices
        assert list(lease) == ["book", "get", "list", "refresh", "cancel", "exec", "attach"]
        assert list(res) == ["book", "get", "list", "refresh", "release"]
        assert "lease" in p.format_help() and "reservations" in p.format_help()


def test_every_word_after_the_double_dash_is_the_commands(monkeypatch):
    seen = []
    monkeypatch.setattr("sacgen.cli.sac._run", lambda args: seen.append(args) or 0)
    argv = ["lease", "exec", "pool", "--node", "n2", "--shell", "--", "cmd", "--node", "-h", "--", ""]
    main(argv)
    hpc_main(argv)
    for args in seen:
        assert (args.name, args.node, args.shell, args.command) == ("pool", "n2", True,
                                                                    ["cmd", "--node", "-h", "--", ""])


def test_exec_without_a_command_and_bad_nodes_are_usage_errors(capsys):
    assert main(["lease", "exec", "pool", "--"]) == 2
    assert "give the command to run after --" in capsys.readouterr().err
    for bad in ("n1;id", "-n1", "", "n 1", "n1\n"):
        with pytest.raises(UsageError):
            node_arg(bad)
    assert node_arg(None) == "" and node_arg("gpu-01.cluster_a") == "gpu-01.cluster_a"
    assert _main(sac_parser(["lease"]), ["lease", "exec", "Bad_Name", "--", "true"]) == 2
