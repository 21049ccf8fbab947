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
  sac agent send head-spartan "run the tests"      # type a message into it
  sac agent wait head-spartan --until idle         # until it has answered
  sac agent stop head-spartan                      # cancel its jobs
  sac reservations book dev-pool --host spartan --cpus 8 --mem 32G --time 7-0 \\
      --tmux-server sac --persistent
  sac agent start --all                            # every discovered YAML, one ssh per host
  sac list                                         # who is working, idle, waiting
  sac list --watch                                 # the same, redrawn every 5 s
  sac connect spartan                              # log in once (password, one-time code)
"""

# What a shell completes for a positional or an option's value (cli.completion):
# names known on this machine, files, or both. Choices complete by themselves.
AGENTS, RESERVATIONS, FILES = "agents", "reservations", "files"


def completes(action: argparse.Action, *kinds: str) -> argparse.Action:
    """Mark ACTION's values as completing to KINDS (AGENTS, RESERVATIONS, FILES)."""
    action.completes = kinds  # type: ignore[attr-defined]
    return action


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

    # A command whose words after the first `--` are all one list, this
    # attribute's name (`lease exec NAME -- COMMAND ARG...`): argparse would take
    # a positional given before an option as complete, and refuse the rest.
    tail_dest: str | None = None

    def error(self, message):
        self.exit(2, f"{self.prog}: {message}\n{self.format_usage()}")

    def parse_known_args(self, args=None, namespace=None):
        if self.tail_dest is None or args is None or "--" not in args:
            return super().parse_known_args(args, namespace)
        args = list(args)
        cut = args.index("--")
        ns, extras = super().parse_known_args(args[:cut], namespace)
        setattr(ns, self.tail_dest, [*(getattr(ns, self.tail_dest, None) or []), *args[cut + 1:]])
        return ns, extras


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


VERBOSE_HELP = ("on stderr: each ssh command line and the size of the program it carries, ssh's whole stderr, "
                "and where the time went (also SAC_VERBOSE=1)")


def _verbose_everywhere(parser: argparse.ArgumentParser, top: bool = True) -> None:
    """-v/--verbose on PARSER and on every command under it: `sac -v agent status
    x` and `sac agent status x -v` alike. Below the top it defaults to nothing at
    all, so that it does not undo a -v given before the command."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                _verbose_everywhere(sub, top=False)
    if top:
        parser.add_argument("-v", "--verbose", action="store_true", help=VERBOSE_HELP)
    else:
        parser.add_argument("-v", "--verbose", action="store_true", help=VERBOSE_HELP, default=argparse.SUPPRESS)


# The special keys `sac agent send --key` takes (tmux's names), besides C-a..C-z,
# M-a..M-z and F1..F12.
SEND_KEYS = ("Enter", "Escape", "Tab", "BTab", "BSpace", "Space", "Up", "Down", "Left", "Right", "Home", "End",
             "PageUp", "PageDown", "IC", "DC")


def send_key(text: str) -> str:
    """An argparse type: a key `sac agent send --key` may press."""
    ok = (text in SEND_KEYS or (len(text) == 3 and text[:2] in ("C-", "M-") and "a" <= text[2] <= "z")
          or (text[:1] == "F" and text[1:].isdigit() and text[1:2] != "0" and 1 <= int(text[1:]) <= 12))
    if not ok:
        raise argparse.ArgumentTypeError(f"{text!r} is not a key sac sends (keys: {' '.join(SEND_KEYS)}, "
                                         "C-a ... C-z, M-a ... M-z, F1 ... F12)")
    return text


def _reservation_parsers(sub, prog_hint: str, lease: bool = False) -> None:
    """The verbs of `reservations` and, with LEASE, of `lease` (cancel for release,
    and exec and attach)."""
    book = sub.add_parser("book", help="book a reservation: submit its job and wait until it runs", formatter_class=RF,
                          epilog=f"examples:\n  {prog_hint} book dev-pool --host spartan --partition cascade \\\n"
                                 "      --cpus 8 --mem 32G --time 7-0 --tmux-server sac --persistent\n"
                                 f"  {prog_hint} book dev-pool/dev-pool.yaml      # a Reservation file says it all")
    completes(book.add_argument("name", metavar="NAME|FILE",
                      help="the reservation's name, with the flags below; or a Reservation YAML file, "
                           "which sets them all (its name is the file's stem)"), FILES)
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
    completes(book.add_argument("--hold-body", metavar="FILE",
                                help="commands sourced in the job before the tmux server starts"), FILES)
    book.add_argument("--gpus", metavar="N|TYPE:N", help="GPUs of the allocation (sbatch --gpus); tenants see them")
    book.add_argument("--gres", metavar="LIST", help="generic resources per node, e.g. gpu:1 or gpu:a100:2")
    book.add_argument("--constraint", metavar="FEATURES", help="node features the allocation needs, e.g. fast")
    book.add_argument("--nodelist", metavar="NODES", help="nodes the allocation must be on, e.g. n1 or n[1-2]")
    book.add_argument("--exclude", metavar="NODES", help="nodes the allocation must not be on")
    book.add_argument("--exclusive", action="store_true", help="the allocation has its node to itself")
    book.add_argument("--mail-type", metavar="EVENTS", help="when SLURM sends mail, e.g. END or BEGIN,FAIL")
    book.add_argument("--mail-user", metavar="ADDRESS", help="who SLURM mails")
    book.add_argument("--extra", dest="extra_directives", action="append", metavar="--OPTION[=VALUE]",
                      help="a further sbatch option, written with = (--extra=--comment=lab); repeatable")
    book.add_argument("--no-wait", action="store_true", help="return once submitted")
    book.add_argument("--wait-timeout", type=count(0, 7 * 86400), default=300, metavar="SECONDS",
                      help="how long to wait for the job to run, 0 to 604800 (default 300; 0: like --no-wait)")
    book.add_argument("--json", action="store_true")
    get = sub.add_parser("get", help="live state of a reservation", formatter_class=RF,
                         epilog=f"example:\n  {prog_hint} get dev-pool --json")
    completes(get.add_argument("name", metavar="NAME"), RESERVATIONS)
    get.add_argument("--json", action="store_true")
    lst = sub.add_parser("list", help="every reservation booked from here", formatter_class=RF,
                         epilog=f"example:\n  {prog_hint} list")
    lst.add_argument("--json", action="store_true")
    ref = sub.add_parser("refresh", help="find the live job of the chain and update the cached id", formatter_class=RF,
                         epilog=f"examples:\n  {prog_hint} refresh dev-pool\n"
                                f"  {prog_hint} refresh dev-pool --host spartan   # adopt one booked elsewhere")
    completes(ref.add_argument("name", metavar="NAME"), RESERVATIONS)
    ref.add_argument("--host", help="adopt a reservation booked from another machine")
    ref.add_argument("--json", action="store_true")
    end = "cancel" if lease else "release"
    rel = sub.add_parser(end, help="cancel the reservation's jobs (its tenants end with it)",
                         formatter_class=RF, epilog=f"example:\n  {prog_hint} {end} dev-pool")
    completes(rel.add_argument("name", metavar="NAME"), RESERVATIONS)
    rel.add_argument("--json", action="store_true")
    if lease:
        _lease_parsers(sub, prog_hint)


def _lease_parsers(sub, prog_hint: str) -> None:
    """The verbs `lease` has beyond those of `reservations`: exec and attach."""
    ex = sub.add_parser(
        "exec", help="run one command inside the reservation's allocation (its exit status is sac's)",
        formatter_class=RF,
        description="Run COMMAND with its ARGs (each one word, byte for byte) in the reservation's\n"
                    "running job, as an `srun --overlap` step on its node, in one ssh connection.\n"
                    "Its stdout and stderr come through as they are written, and its exit status is\n"
                    "sac's. sac's own failures also exit 1, 2 or 3, and then say so on stderr\n"
                    "(`sac: NAME: ...`). The command's stdin is /dev/null.",
        epilog=f"examples:\n  {prog_hint} exec dev-pool -- nvidia-smi\n"
               f"  {prog_hint} exec dev-pool --shell -- module list          # modules need a login shell\n"
               f"  {prog_hint} exec dev-pool --node n2 -- hostname\n"
               f"  {prog_hint} exec dev-pool --shell -- bash -c 'ls | wc -l'  # a pipeline is one bash -c")
    completes(ex.add_argument("name", metavar="NAME"), RESERVATIONS)
    ex.add_argument("--node", metavar="NODE", help="one of the job's nodes to run it on (default: its first)")
    ex.add_argument("--shell", action="store_true",
                    help="run it from a login shell on the node (bash -l), for modules and shell functions")
    ex.add_argument("command", nargs="*", metavar="ARG", help="COMMAND and its arguments, after --")
    ex.tail_dest = "command"
    at = sub.add_parser("attach", help="an interactive shell on the reservation's node, inside its allocation",
                        formatter_class=RF,
                        description="A login shell on the reservation's node, in its running job (an\n"
                                    "`srun --overlap --pty` step), on your terminal; exit it to come back.\n"
                                    "sac exits with the shell's exit status.",
                        epilog=f"examples:\n  {prog_hint} attach dev-pool\n  {prog_hint} attach dev-pool --node n2")
    at.add_argument("name", metavar="NAME")
    at.add_argument("--node", metavar="NODE", help="one of the job's nodes (default: its first)")


def _agent_parsers(asub) -> None:
    s = asub.add_parser("start", help="start agents (one ssh per host)", formatter_class=RF,
                        epilog="examples:\n  sac agent start head-spartan/head-spartan.yaml\n"
                               "  sac agent start dev-helper doc-builder\n  sac agent start --all --dry-run")
    completes(s.add_argument("targets", nargs="*", metavar="PATH|NAME"), AGENTS, FILES)
    s.add_argument("--all", action="store_true", help="every YAML found by discovery")
    s.add_argument("--dry-run", action="store_true", help="print what would be shipped; run nothing")
    s.add_argument("--force", action="store_true", help="runtime slurm: cancel a live job of the agent first")
    s.add_argument("--fresh", action="store_true",
                   help="begin a new conversation (a new session id) at the agent's next start")
    s.add_argument("--json", action="store_true")
    st = asub.add_parser("status", help="job chain, node and tmux pane of an agent", formatter_class=RF,
                         epilog="example:\n  sac agent status head-spartan --json")
    completes(st.add_argument("name", metavar="NAME"), AGENTS)
    st.add_argument("--json", action="store_true")
    at = asub.add_parser("attach", help="attach your terminal to the agent's tmux session", formatter_class=RF,
                         epilog="example:\n  sac agent attach head-spartan     # detach with C-b d")
    completes(at.add_argument("name", metavar="NAME"), AGENTS)
    lg = asub.add_parser("logs", help="last lines of the agent's pane (or its log once the session is gone)",
                         formatter_class=RF, epilog="example:\n  sac agent logs head-spartan -n 100")
    completes(lg.add_argument("name", metavar="NAME"), AGENTS)
    lg.add_argument("-n", "--lines", type=count(1, 100000), default=100, metavar="LINES",
                    help="how many lines, 1 to 100000 (default 100)")
    sp = asub.add_parser("stop", help="stop agents (runtime slurm: cancel the chain; tenant: kill the session)",
                         formatter_class=RF, epilog="examples:\n  sac agent stop head-spartan\n  sac agent stop --all")
    completes(sp.add_argument("names", nargs="*", metavar="NAME"), AGENTS)
    sp.add_argument("--all", action="store_true", help="every agent started from here")
    sp.add_argument("--json", action="store_true")
    sd = asub.add_parser("send", help="type a message (or keys) into an agent, without attaching", formatter_class=RF,
                         description="Type TEXT into the agent's pane and press Enter, as one paste: a text of\n"
                                     "several lines arrives as one message. TEXT - reads standard input (one\n"
                                     "final newline dropped). Quotes, $, backslashes and unicode arrive as they\n"
                                     "are; control characters other than tab and newline are refused. A text\n"
                                     "that starts with - goes after --. The time is recorded on the cluster, so\n"
                                     "that `sac agent wait --until idle` waits for the answer to this message.",
                         epilog="examples:\n  sac agent send head-spartan \"run the tests and fix what fails\"\n"
                                "  sac agent send head-spartan - < task.md\n"
                                "  sac agent send head-spartan --key Escape          # interrupt its turn\n"
                                "  sac agent send head-spartan --no-enter -- \"-draft\"  # type, do not submit\n"
                                "  sac agent send --all \"git pull first\"\n\n"
                                f"keys: {' '.join(SEND_KEYS)} C-a ... C-z M-a ... M-z F1 ... F12")
    completes(sd.add_argument("name", nargs="?", metavar="NAME", help="the agent (left out with --all)"), AGENTS)
    sd.add_argument("text", nargs="?", metavar="TEXT|-", help="what to type; - reads standard input")
    sd.add_argument("--all", action="store_true", help="every running agent started from here")
    sd.add_argument("--no-enter", action="store_true", help="type the text, but do not press Enter")
    sd.add_argument("--key", nargs="+", action="extend", default=[], metavar="KEY", type=send_key,
                    help="special keys, after the text (and its Enter), by tmux's names: Escape C-c Up Enter ...")
    sd.add_argument("--json", action="store_true")
    wt = asub.add_parser("wait", help="wait until agents are idle, waiting for you, or ended", formatter_class=RF,
                         description="Return once every agent named has reached the state: idle (its turn is\n"
                                     "over) or waiting (it needs you), entered after the last `sac agent send`\n"
                                     "to it; or ended (no job or session left). Asks every --interval seconds\n"
                                     "over one kept-open connection per host. Exit 0 when all have, 1 on\n"
                                     "timeout (or when an agent ended before it became idle or waiting).",
                         epilog="examples:\n  sac agent send x \"run the tests\" && sac agent wait x --until idle "
                                "--timeout 3600 && sac agent logs x -n 50\n"
                                "  sac agent wait a b c --until waiting\n  sac agent wait x --until ended")
    completes(wt.add_argument("names", nargs="+", metavar="NAME"), AGENTS)
    wt.add_argument("--until", required=True, choices=["idle", "waiting", "ended"])
    wt.add_argument("--timeout", type=count(0, 365 * 86400), metavar="SECONDS", help="give up after this long (exit 1)")
    wt.add_argument("--interval", type=count(1, 3600), default=5, metavar="SECONDS",
                    help="how often to ask, 1 to 3600 (default 5)")
    wt.add_argument("--json", action="store_true", help="print each agent's last status as JSON")
    mg = asub.add_parser("migrate", help="rewrite a runtime-slurm YAML into a tenant of a reservation",
                         formatter_class=RF, epilog="example:\n  sac agent migrate head-spartan/head-spartan.yaml "
                                                    "--reservation dev-pool")
    completes(mg.add_argument("file", metavar="FILE"), FILES)
    completes(mg.add_argument("--reservation", required=True, metavar="POOL"), RESERVATIONS)


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
        ls.add_argument("--watch", nargs="?", const=5, type=count(1, 3600), metavar="SECONDS",
                        help="redraw the table every SECONDS (default 5) over one kept-open connection per host, "
                             "until Ctrl-C")

    rn = sub.add_parser("run", help="ship one script over ssh and run it", formatter_class=RF,
                        epilog="examples:\n  sac run build/head-spartan/status.sh --host spartan\n"
                               "  sac run build/dev-helper/logs.sh --host spartan -- 200   # ARGs after --")
    if wants("run"):
        completes(rn.add_argument("script", metavar="SCRIPT"), FILES)
        rn.add_argument("--host", required=True)
        completes(rn.add_argument("args", nargs="*", metavar="ARG", help="arguments for the script (after --)"), FILES)

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
    lease = sub.add_parser("lease", help="the same as reservations (cancel for release), and exec and attach",
                           formatter_class=RF, epilog=LEASE_EPILOG.format(prog="sac"))
    if wants("lease"):
        lsub = lease.add_subparsers(dest="verb", metavar="VERB")
        lsub.required = True
        _reservation_parsers(lsub, "sac lease", lease=True)
    _verbose_everywhere(p)
    return p


LEASE_EPILOG = """examples:
  {prog} lease book dev-pool --host spartan --tmux-server sac --persistent
  {prog} lease exec dev-pool -- nvidia-smi
  {prog} lease attach dev-pool
  {prog} lease cancel dev-pool"""


def hpc_parser() -> argparse.ArgumentParser:
    p = Parser(prog="scitex-hpc", description="Reservations: pools of SLURM allocation for tenant "
                                "agents (the same commands as `sac lease` and `sac reservations`).",
                                formatter_class=RF, epilog=LEASE_EPILOG.format(prog="scitex-hpc"))
    p.add_argument("--version", action="version", version=f"scitex-hpc (sacgen) {__version__}")
    sub = p.add_subparsers(dest="group", metavar="COMMAND")
    sub.required = True
    lease = sub.add_parser("lease", help="book, get, list, refresh, cancel; exec a command in it, attach a shell",
                           formatter_class=RF)
    lsub = lease.add_subparsers(dest="verb", metavar="VERB")
    lsub.required = True
    _reservation_parsers(lsub, "scitex-hpc lease", lease=True)
    res = sub.add_parser("reservations", help="book, get, list, refresh, release (as the seed spells them)",
                         formatter_class=RF)
    rsub = res.add_subparsers(dest="verb", metavar="VERB")
    rsub.required = True
    _reservation_parsers(rsub, "scitex-hpc reservations")
    _verbose_everywhere(p)
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
    completes(v.add_argument("paths", nargs="+", metavar="PATH", help="YAML files or directories"), FILES)
    b = sub.add_parser("build", help="write the bash artifacts (or --check them against a folder)",
                       epilog="examples:\n  sacgen build examples/ -o build/\n  sacgen build examples/ --check golden/",
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    completes(b.add_argument("paths", nargs="+", metavar="PATH", help="YAML files or directories"), FILES)
    g = b.add_mutually_exclusive_group(required=True)
    completes(g.add_argument("-o", "--output", metavar="OUT", help="write OUT/<name>/... and OUT/manifest.json"), FILES)
    completes(g.add_argument("--check", metavar="GOLDEN", help="exit 1 with a unified diff if GOLDEN differs"), FILES)
    b.add_argument("-j", "--jobs", type=_jobs, metavar="N",
                   help="processes that load, validate and render (default: one per CPU, fewer for few files)")
    s = sub.add_parser("schema", help="print the JSON Schema (self-contained: no reference to another file)",
                       epilog="example:\n  sacgen schema --kind Reservation",
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    s.add_argument("--kind", choices=["Agent", "Reservation"], default="Agent")
    c = sub.add_parser("completion", help="print shell completion for sac, sacgen and scitex-hpc",
                       epilog="examples:\n  source <(sacgen completion bash)        # in ~/.bashrc\n"
                              "  source <(sacgen completion zsh)         # in ~/.zshrc, after compinit\n"
                              "  sacgen completion fish | source          # in ~/.config/fish/config.fish\n"
                              "  sacgen completion tcsh > ~/.sacgen.tcsh  # then in ~/.tcshrc: source ~/.sacgen.tcsh",
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    c.add_argument("shell", choices=["bash", "zsh", "tcsh", "fish"])
    li = sub.add_parser("lint", help="run bash -n and shellcheck over every artifact of the YAMLs given",
                        epilog="example:\n  sacgen lint examples/",
                        formatter_class=argparse.RawDescriptionHelpFormatter)
    completes(li.add_argument("paths", nargs="*", metavar="PATH",
                              help="YAML files or directories (default: examples)"), FILES)
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
