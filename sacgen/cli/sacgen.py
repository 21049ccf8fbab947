"""`sacgen`: validate Agent/Reservation YAMLs and compile them into bash artifacts.

A thin CLI: it wires the compile stage (load -> check -> model -> render ->
build) and turns errors into one line each and an exit status (2 for bad input).
"""

from __future__ import annotations

import shlex
import sys

from ..errors import SacError, Terminated
from .parsers import sacgen_parser
from .sac import leave


def run(argv: list[str]) -> int:
    args = sacgen_parser().parse_args(argv)
    # The compile stage (Jinja, PyYAML, jsonschema) loads only once a command
    # needs it: `sacgen --help` and `--version` stay quick.
    from ..compile.build import build, check_tree, render_tree
    from ..compile.schemas import standalone_schema
    from ..compile.specs import load_specs
    from .completion import SCRIPTS

    try:
        if args.command == "completion":
            sys.stdout.write(SCRIPTS[args.shell]())
            return 0
        if args.command == "lint":
            return _lint(args.paths or ["examples"])
        if args.command == "schema":
            sys.stdout.write(standalone_schema(args.kind))
            return 0
        if args.command == "build" and args.output:
            nfiles, nspecs = build(args.paths, args.output, args.jobs)
            print(f"wrote {nfiles} file{'s' * (nfiles != 1)} for {nspecs} spec{'s' * (nspecs != 1)} to {args.output}")
            return 0
        specs = load_specs(args.paths)
        if args.command == "validate":
            for spec in specs:
                print(f"{spec.source}: ok ({spec.kind} {spec.name})")
            return 0
        files = render_tree(specs)
        diff = check_tree(files, args.check)
        if diff:
            sys.stdout.write(diff)
            again = " ".join(shlex.quote(p) for p in args.paths)
            print(f"sacgen: {args.check} differs from the build (to write it again: sacgen build {again} -o "
                  f"{shlex.quote(args.check)})", file=sys.stderr)
            return 1
        print(f"{args.check}: up to date ({len(files)} files)")
        return 0
    except SacError as e:
        print(e.render("sacgen"), file=sys.stderr)
        return e.status


def _lint(paths: list[str]) -> int:
    from ..compile import lint

    problems = lint.lint_specs(paths)
    for p in problems:
        print(p, file=sys.stderr)
    if not problems:
        print(f"lint: every artifact of {' '.join(paths)} passes bash -n and shellcheck")
    return 1 if problems else 0


def main(argv: list[str] | None = None) -> int:
    try:
        return run(sys.argv[1:] if argv is None else argv)
    except KeyboardInterrupt:
        return 130
    except Terminated as e:  # a build cleaned up after SIGTERM or SIGHUP
        return 128 + e.signum
    except BrokenPipeError:
        return 1


def console() -> None:
    """The `sacgen` command (see cli.sac.leave)."""
    leave(main())


if __name__ == "__main__":
    console()
