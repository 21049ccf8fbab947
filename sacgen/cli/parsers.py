"""The command lines of `sac`, `scitex-hpc` and `sacgen`: one place that says
every command, flag and help text (the commands, the completion scripts and the
CLI reference all read these parsers)."""

from __future__ import annotations

import argparse
import os
import sys

from .. import __version__
from ..compile.model import is_name
from ..errors import UsageError

EPILOG = """examples:
  sac agent start head-spartan/head-spartan.yaml   # submit one agent (runtime slurm)
  sac agent status head-spartan                    # job chain + tmux pane state
  sac agent attach head-spartan                    # your terminal in its tmux (C-b d detaches)
  sac agent logs head-spartan -n 100               # last lines of its pane
  sac agent stop head-spartan                      # cancel its jobs
  sac reservations book dev-pool --host spartan --cpus 8 --mem 32G --time 7-0 \\
      --tmux-server sac --persistent
  sac agent start --all                            # every discovered YAML, one ssh per host
  sac list
  sac connect spartan                              # log in once (password, one-time code)
"""

def _columns() -> int:
    """The terminal's width, as shutil.get_terminal_size() tells it (COLUMNS, then
    the terminal, else 80)."""
    try:
        return int(os.environ["COLUMNS"])
    except (KeyError, ValueError):
        pass
    try:
        return os.get_terminal_size(sys.__stdout__.fileno()).columns or 80  # type: ignore[union-attr]
    except (AttributeError, ValueError, OSError):
        return 80


class Parser(argparse.ArgumentParser):
    """argparse, but a usage error says what is wrong first, on one line
    (`sac agent: invalid choice: ...`), and the usage after it."""

    def error(self, message):
        self.exit(2, f"{self.prog}: {message}\n{self.format_usage()}")


class RF(argparse.RawDescriptionHelpFormatter):
    """Help as written (examples keep their lines), as wide as the terminal."""

    def __init__(self, prog, indent_increment=2, max_help_position=24, width=None):
        super().__init__(prog, indent_increment, max_help_position, _columns() - 2 if width is None else width)


def count(lo: int, hi: int):
    """An argparse type: a whole number from lo to hi, in plain digits."""
    def parse(text: str) -> int:
        if not text.isascii() or not text.isdigit() or not lo <= int(text) <= hi:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number from {lo} to {hi:,}")
        return int(text)
    parse.__name__ = "count"
    return parse


def _reservation_parsers(sub, prog_hint: str) -> None:
    book = sub.add_parser("book", help="book a reservation: submit its job and wait until it runs", formatter_class=RF,
                          epilog=f"examples:\n  {prog_hint} book dev-pool --host spartan --partition cascade \\\n"
                                 "      --cpus 8 --mem 32G --time 7-0 --tmux-server sac --persistent\n"
                                 f"  {prog_hint} book dev-pool/dev-pool.yaml      # a Reservation file says it all")
    book.add_argument("name", metavar="NAME|FILE",
                      help="the reservation's name, with the flags below; or a Reservation YAML file, "
                           "which sets them all (its name is the file's stem)")
    book.add_argument("--host", help="ssh destination of the submission host (required with NAME)")
    book.add_argument("--partition")
    book.add_argument("--account")
    book.add_argument("--qos")
    book.add_argument("--cpus", help="CPUs of the allocation")
    book.add_argument("--mem", help="memory, e.g. 32G")
    book.add_argument("--time", help="walltime in any SLURM format, e.g. 7-0")
    book.add_argument("--tmux-server", metavar="S", help="run tmux -L S as the job's main process (tenants need it)")
    book.add_argument("--persistent", action="store_true", help="resubmit before walltime and relaunch the tenants")
    book.add_argument("--resubmit-before", metavar="SECONDS", help="lead time of the walltime signal (default 3600)")
    book.add_argument("--hold-body", metavar="FILE", help="commands sourced in the job before the tmux server starts")
    book.add_argument("--no-wait", action="store_true", help="return once submitted")
    book.add_argument("--wait-timeout", type=count(0, 7 * 86400), default=300, metavar="SECONDS",
                      help="how long to wait for the job to run, 0 to 604800 (default 300; 0: like --no-wait)")
    book.add_argument("--json", action="store_true")
    get = sub.add_parser("get", help="live state of a reservation", formatter_class=RF,
                         epilog=f"example:\n  {prog_hint} get dev-pool --json")
    get.add_argument("name", metavar="NAME")
    get.add_argument("--json", action="store_true")
    lst = sub.add_parser("list", help="every reservation booked from here", formatter_class=RF,
                         epilog=f"example:\n  {prog_hint} list")
    lst.add_argument("--json", action="store_true")
    ref = sub.add_parser("refresh", help="find the live job of the chain and update the cached id", formatter_class=RF,
                         epilog=f"examples:\n  {prog_hint} refresh dev-pool\n"
                                f"  {prog_hint} refresh dev-pool --host spartan   # adopt one booked elsewhere")
    ref.add_argument("name", metavar="NAME")
    ref.add_argument("--host", help="adopt a reservation booked from another machine")
    ref.add_argument("--json", action="store_true")
    rel = sub.add_parser("release", help="cancel the reservation's jobs (its tenants end with it)",
                         formatter_class=RF, epilog=f"example:\n  {prog_hint} release dev-pool")
    rel.add_argument("name", metavar="NAME")
    rel.add_argument("--json", action="store_true")


def _agent_parsers(asub) -> None:
    s = asub.add_parser("start", help="start agents (one ssh per host)", formatter_class=RF,
                        epilog="examples:\n  sac agent start head-spartan/head-spartan.yaml\n"
                               "  sac agent start dev-helper doc-builder\n  sac agent start --all --dry-run")
    s.add_argument("targets", nargs="*", metavar="PATH|NAME")
    s.add_argument("--all", action="store_true", help="every YAML found by discovery")
    s.add_argument("--dry-run", action="store_true", help="print what would be shipped; run nothing")
    s.add_argument("--force", action="store_true", help="runtime slurm: cancel a live job of the agent first")
    s.add_argument("--fresh", action="store_true",
                   help="begin a new conversation (a new session id) at the agent's next start")
    s.add_argument("--json", action="store_true")
    st = asub.add_parser("status", help="job chain, node and tmux pane of an agent", formatter_class=RF,
                         epilog="example:\n  sac agent status head-spartan --json")
    st.add_argument("name", metavar="NAME")
    st.add_argument("--json", action="store_true")
    at = asub.add_parser("attach", help="attach your terminal to the agent's tmux session", formatter_class=RF,
                         epilog="example:\n  sac agent attach head-spartan     # detach with C-b d")
    at.add_argument("name", metavar="NAME")
    lg = asub.add_parser("logs", help="last lines of the agent's pane (or its log once the session is gone)",
                         formatter_class=RF, epilog="example:\n  sac agent logs head-spartan -n 100")
    lg.add_argument("name", metavar="NAME")
    lg.add_argument("-n", "--lines", type=count(1, 100000), default=100, metavar="LINES",
                    help="how many lines, 1 to 100000 (default 100)")
    sp = asub.add_parser("stop", help="stop agents (runtime slurm: cancel the chain; tenant: kill the session)",
                         formatter_class=RF, epilog="examples:\n  sac agent stop head-spartan\n  sac agent stop --all")
    sp.add_argument("names", nargs="*", metavar="NAME")
    sp.add_argument("--all", action="store_true", help="every agent started from here")
    sp.add_argument("--json", action="store_true")
    mg = asub.add_parser("migrate", help="rewrite a runtime-slurm YAML into a tenant of a reservation",
                         formatter_class=RF, epilog="example:\n  sac agent migrate head-spartan/head-spartan.yaml "
                                                    "--reservation dev-pool")
    mg.add_argument("file", metavar="FILE")
    mg.add_argument("--reservation", required=True, metavar="POOL")


def sac_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    """The whole `sac` parser; given the command line ARGV, only the command group
    it names is built in full (the others are listed, with their help, for
    `sac --help` and for messages), which keeps start-up short."""
    group = next((a for a in argv if not a.startswith("-")), None) if argv is not None else None
    full = argv is None

    def wants(name: str) -> bool:
        return full or group == name

    p = Parser(prog="sac", description="Run AI coding agents on SLURM over plain ssh.",
                                epilog=EPILOG, formatter_class=RF)
    p.add_argument("--version", action="version", version=f"sac (sacgen) {__version__}")
    sub = p.add_subparsers(dest="group", metavar="COMMAND")
    sub.required = True

    agent = sub.add_parser("agent", help="start, inspect and stop agents", epilog=EPILOG, formatter_class=RF)
    if wants("agent"):
        asub = agent.add_subparsers(dest="verb", metavar="VERB")
        asub.required = True
        _agent_parsers(asub)

    ls = sub.add_parser("list", help="every agent started from here, with live state (one ssh per host)",
                        formatter_class=RF, epilog="example:\n  sac list --json")
    if wants("list"):
        ls.add_argument("--json", action="store_true")

    rn = sub.add_parser("run", help="ship one script over ssh and run it", formatter_class=RF,
                        epilog="examples:\n  sac run build/head-spartan/status.sh --host spartan\n"
                               "  sac run build/dev-helper/logs.sh --host spartan -- 200   # ARGs after --")
    if wants("run"):
        rn.add_argument("script", metavar="SCRIPT")
        rn.add_argument("--host", required=True)
        rn.add_argument("args", nargs="*", metavar="ARG", help="arguments for the script (after --)")

    cn = sub.add_parser("connect", help="log in to a host once (password, one-time code); later commands share it",
                        formatter_class=RF,
                        description="Log in to HOST with your terminal, answering whatever the login asks\n"
                                    "(password, key passphrase, one-time code), and keep that connection open:\n"
                                    "every later sac command to HOST rides on it, without logging in again,\n"
                                    "until it has been idle for --persist.",
                        epilog="examples:\n"
                               "  sac connect spartan                # then sac commands to spartan share it\n"
                               "  sac connect spartan --persist 12h\n  sac connect spartan --check\n"
                               "  sac connect spartan --close")
    if wants("connect"):
        cn.add_argument("host", metavar="HOST", help="ssh destination, as the agents' spec.slurm.host names it")
        cn.add_argument("--persist", default="8h", metavar="DURATION",
                        help="how long it stays open once idle: seconds, or 30m, 8h, 2d... (default 8h)")
        what = cn.add_mutually_exclusive_group()
        what.add_argument("--check", action="store_true",
                          help="say whether it is open (exit 1 if not; 2 if SAC_SSH_CONTROL=0)")
        what.add_argument("--close", action="store_true", help="close it")

    res = sub.add_parser("reservations", help="book, inspect and release reservations (pools for tenants)",
                         formatter_class=RF, epilog="example:\n  sac reservations book dev-pool --host spartan "
                                                    "--tmux-server sac --persistent")
    if wants("reservations"):
        rsub = res.add_subparsers(dest="verb", metavar="VERB")
        rsub.required = True
        _reservation_parsers(rsub, "sac reservations")
    return p


def hpc_parser() -> argparse.ArgumentParser:
    p = Parser(prog="scitex-hpc", description="Reservations: pools of SLURM allocation for tenant "
                                "agents (the same commands as `sac reservations`).", formatter_class=RF,
                                epilog="example:\n  scitex-hpc reservations book dev-pool --host spartan "
                                       "--tmux-server sac --persistent")
    p.add_argument("--version", action="version", version=f"scitex-hpc (sacgen) {__version__}")
    sub = p.add_subparsers(dest="group", metavar="COMMAND")
    sub.required = True
    res = sub.add_parser("reservations", help="book, get, list, refresh, release", formatter_class=RF)
    rsub = res.add_subparsers(dest="verb", metavar="VERB")
    rsub.required = True
    _reservation_parsers(rsub, "scitex-hpc reservations")
    return p


EXAMPLES = """examples:
  sacgen validate examples/
  sacgen build examples/ -o build/
  sacgen build examples/ --check golden/
  sacgen schema --kind Agent
"""


def sacgen_parser() -> argparse.ArgumentParser:
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
    li = sub.add_parser("lint", help="run bash -n and shellcheck over every artifact of the YAMLs given",
                        epilog="example:\n  sacgen lint examples/",
                        formatter_class=argparse.RawDescriptionHelpFormatter)
    li.add_argument("paths", nargs="*", metavar="PATH", help="YAML files or directories (default: examples)")
    return p


def _jobs(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number of at least 1 (got {text!r})")
    return int(text)


def name_arg(name: str) -> str:
    """A reservation's NAME on the command line, refused (exit 2) unless it is one."""
    if not is_name(name):
        raise UsageError(f"{name!r} is not a reservation name: lowercase letters, digits and -, starting with a "
                         "letter, at most 48 characters")
    return name
