"""`sacgen`: validate Agent/Reservation YAMLs and compile them into bash artifacts.

A thin CLI: it wires loader -> schema -> spec -> render -> build and turns
errors into one line each and an exit status (2 for bad input).
"""

from __future__ import annotations

import argparse
import sys

from . import __version__

EXAMPLES = """examples:
  sacgen validate examples/
  sacgen build examples/ -o build/
  sacgen build examples/ --check golden/
  sacgen schema --kind Agent
"""


def parser() -> argparse.ArgumentParser:
    from .cli_sac import Parser

    p = Parser(
        prog="sacgen",
        description="Compile Agent YAMLs (scitex-agent-container/v3) into self-contained bash for SLURM.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--version", action="version", version=f"sacgen {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    v = sub.add_parser("validate", help="check YAML files against the schema",
                       epilog="example:\n  sacgen validate examples/ my-agent.yaml",
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    v.add_argument("paths", nargs="+", metavar="PATH", help="YAML files or directories")
    b = sub.add_parser("build", help="write the bash artifacts (or --check them against a folder)",
                       epilog="examples:\n  sacgen build examples/ -o build/\n  sacgen build examples/ --check golden/",
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    b.add_argument("paths", nargs="+", metavar="PATH", help="YAML files or directories")
    g = b.add_mutually_exclusive_group(required=True)
    g.add_argument("-o", "--output", metavar="OUT", help="write OUT/<name>/... and OUT/manifest.json")
    g.add_argument("--check", metavar="GOLDEN", help="exit 1 with a unified diff if GOLDEN differs")
    b.add_argument("-j", "--jobs", type=_jobs, metavar="N",
                   help="processes that load, validate and render (default: one per CPU, fewer for few files)")
    s = sub.add_parser("schema", help="print the JSON Schema (self-contained: no reference to another file)",
                       epilog="example:\n  sacgen schema --kind Reservation",
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    s.add_argument("--kind", choices=["Agent", "Reservation"], default="Agent")
    c = sub.add_parser("completion", help="print shell completion for sac, sacgen and scitex-hpc",
                       epilog="examples:\n  source <(sacgen completion bash)        # in ~/.bashrc\n"
                              "  source <(sacgen completion zsh)         # in ~/.zshrc, after compinit",
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    c.add_argument("shell", choices=["bash", "zsh"])
    return p


def _jobs(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number of at least 1 (got {text!r})")
    return int(text)


def run(argv: list[str]) -> int:
    args = parser().parse_args(argv)
    from .errors import SacError

    try:
        if args.command == "completion":
            from .completion import bash_script, zsh_script

            sys.stdout.write(bash_script() if args.shell == "bash" else zsh_script())
            return 0
        if args.command == "schema":
            from .schema import standalone_schema

            sys.stdout.write(standalone_schema(args.kind))
            return 0
        if args.command == "build" and args.output:
            from .build import build

            nfiles, nspecs = build(args.paths, args.output, args.jobs)
            print(f"wrote {nfiles} file{'s' * (nfiles != 1)} for {nspecs} spec{'s' * (nspecs != 1)} to {args.output}")
            return 0
        from .spec import load_specs

        specs = load_specs(args.paths)
        if args.command == "validate":
            for spec in specs:
                print(f"{spec.source}: ok ({spec.kind} {spec.name})")
            return 0
        from .build import check_tree, render_tree

        files = render_tree(specs)
        diff = check_tree(files, args.check)
        if diff:
            sys.stdout.write(diff)
            import shlex

            again = " ".join(shlex.quote(p) for p in args.paths)
            print(f"sacgen: {args.check} differs from the build (to write it again: sacgen build {again} -o "
                  f"{shlex.quote(args.check)})", file=sys.stderr)
            return 1
        print(f"{args.check}: up to date ({len(files)} files)")
        return 0
    except SacError as e:
        print(e.render("sacgen"), file=sys.stderr)
        return e.status


def main(argv: list[str] | None = None) -> int:
    from .errors import Terminated

    try:
        return run(sys.argv[1:] if argv is None else argv)
    except KeyboardInterrupt:
        return 130
    except Terminated as e:  # a build cleaned up after SIGTERM or SIGHUP
        return 128 + e.signum
    except BrokenPipeError:
        return 1


def console() -> None:
    """The `sacgen` command (see cli_sac.leave: no interpreter teardown)."""
    from .cli_sac import leave

    leave(main())


if __name__ == "__main__":
    console()
