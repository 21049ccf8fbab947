"""`sac run` and `sac connect`: one script over ssh, and the shared connection."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..errors import UsageError
from ..run import remote, steps
from ..run.remote import END, program_output


def cmd_run(args: argparse.Namespace) -> int:
    status, out, err = steps.run_script(Path(args.script), args.host, tuple(args.args))
    # The script's output, without sac's first line, the end marker and the
    # newline put before it.
    out = program_output(out)
    end = out.rfind("\n" + END)
    sys.stdout.write(out[:end] if end >= 0 else out)
    sys.stderr.write(err)
    return status


def cmd_connect(args: argparse.Namespace) -> int:
    if args.host in remote.LOCAL_HOSTS:
        raise UsageError(f"{args.host} runs sac's scripts on this machine, without ssh: there is nothing to connect")
    if args.check:
        up = remote.shared_connection(args.host)
        print(f"{args.host}: " + ("a shared connection is open; sac commands to it use it" if up else
                                  "not connected (sac connect HOST opens a shared connection)"))
        return 0 if up else 1
    if args.close:
        closed = remote.close_shared_connection(args.host)
        print(f"{args.host}: " + ("connection closed" if closed else "no shared connection was open"))
        return 0
    if not remote.is_duration(args.persist):
        raise UsageError(f"--persist: {args.persist!r} is not a duration of at least a second (e.g. 600, 30m, 8h, "
                     "1h30m, 2d)")
    if remote.open_shared_connection(args.host, args.persist):
        print(f"{args.host}: connected; sac commands to it share this connection until it has been idle for "
              f"{args.persist} (sac connect {args.host} --close ends it)")
    else:
        print(f"{args.host}: already connected; sac commands to it share that connection (its idle limit is "
              f"as it was set: sac connect {args.host} --close, then connect again, to set {args.persist})")
    return 0
