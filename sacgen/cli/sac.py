"""`sac` (and `scitex-hpc`): run agents and reservations on SLURM over plain ssh.

Thin: parse the command line (cli.parsers), call the run stage, print
(cli.output). Each group's commands live in their own module (cli.agents,
cli.reservations), imported for the command given.
"""

from __future__ import annotations

import argparse
import os
import sys

from ..errors import SacError, UsageError
from .parsers import hpc_parser, sac_parser


def dispatch(args: argparse.Namespace) -> int:
    """Run the command ARGS name. The command modules are imported here, for the
    command given only: `sac --help` loads none of them (nor the run stage)."""
    if args.group in ("agent", "list"):
        from . import agents

        if args.group == "list" and args.watch is None:
            return agents.cmd_list(args)
        if args.group == "list" or args.verb in ("send", "wait"):
            from . import talk

            if args.group == "list":
                if args.json:
                    raise UsageError("--watch draws a table: it does not go with --json")
                return talk.watch(args.watch)
            return talk.cmd_agent_send(args) if args.verb == "send" else talk.cmd_agent_wait(args)
        return {"start": agents.cmd_agent_start, "status": agents.cmd_agent_status,
                "attach": agents.cmd_agent_attach, "logs": agents.cmd_agent_logs, "stop": agents.cmd_agent_stop,
                "migrate": agents.cmd_agent_migrate}[args.verb](args)
    if args.group in ("run", "connect"):
        from . import connections

        return connections.cmd_run(args) if args.group == "run" else connections.cmd_connect(args)
    if args.group in ("reservations", "lease"):
        from . import reservations

        if args.verb == "refresh":
            return reservations.cmd_res_get(args, refresh=True)
        # `lease` is `reservations` with cancel for release, and exec and attach.
        return {"book": reservations.cmd_res_book, "get": reservations.cmd_res_get,
                "list": reservations.cmd_res_list, "release": reservations.cmd_res_release,
                "cancel": reservations.cmd_res_release, "exec": reservations.cmd_lease_exec,
                "attach": reservations.cmd_lease_attach}[args.verb](args)
    raise AssertionError(args.group)


def _main(p: argparse.ArgumentParser, argv: list[str]) -> int:
    return _run(p.parse_args(argv))


def _run(args: argparse.Namespace) -> int:
    from ..run import remote  # the run stage, once a command is to run (not for --help)

    remote.VERBOSE = bool(getattr(args, "verbose", False))
    try:
        return dispatch(args)
    except SacError as e:
        print(e.render("sac"), file=sys.stderr)
        return e.status
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 1


def _names(argv: list[str]) -> int:
    """`sac __names KIND`, for the completion scripts: names from this machine only."""
    from .completion import print_names

    return print_names(argv[1:])


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["__names"]:
        return _names(argv)
    if argv[:1] == ["run"] and "--" in argv:
        # `sac run SCRIPT --host H -- ARG...`: everything after `--` is the
        # script's, wherever the options were (argparse would have taken the
        # positionals already, and refused the rest). With no SCRIPT before
        # `--` (`sac run --host H -- SCRIPT ARG...`), the first word after it is.
        cut = argv.index("--")
        before, after = argv[:cut], argv[cut + 1:]
        words_before = [w for i, w in enumerate(before[1:], 1)
                        if not w.startswith("-") and before[i - 1] != "--host"]
        if not words_before and after:
            before, after = [*before, "--", after[0]], after[1:]
        args = sac_parser(argv).parse_args(before)
        args.args = [*args.args, *after]
        return _run(args)
    if argv[:2] == ["agent", "send"]:
        return _run(_send_args(argv))
    return _main(sac_parser(argv), argv)


def _send_args(argv: list[str]) -> argparse.Namespace:
    """`sac agent send NAME [TEXT]` with its options anywhere (`send x --no-enter
    TEXT`): argparse takes both positionals at their first word, so the words it
    leaves are the rest of them."""
    p = sac_parser(argv)
    args, extra = p.parse_known_args(argv)
    words = [w for w in (args.name, args.text) if w is not None]
    literal = False
    for w in extra:
        if w == "--" and not literal:
            literal = True
        elif w.startswith("-") and w != "-" and not literal:
            p.error(f"unrecognized arguments: {w}")
        else:
            words.append(w)
    if len(words) > 2:
        p.error(f"unrecognized arguments: {' '.join(words[2:])}")
    args.name, args.text = (words + [None, None])[:2]
    return args


def hpc_main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["__names"]:
        return _names(argv)
    return _main(hpc_parser(), argv)


def leave(status: int) -> None:
    """End the process with STATUS once stdout and stderr are flushed, without
    the interpreter's teardown: freeing every loaded module is about a tenth of a
    cached `sac agent status` (make bench), and nothing needs it, since every
    file sacgen writes is closed, and synced where it matters, before its command
    returns. Only for the console entry points: a caller of main() keeps its
    interpreter."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # BrokenPipeError: `sac list | head`
            status = status or 1
    os._exit(status)


def console() -> None:
    """The `sac` command."""
    leave(main())


def hpc_console() -> None:
    """The `scitex-hpc` command."""
    leave(hpc_main())


if __name__ == "__main__":
    console()
