"""Stage 5: ship scripts to a host and read back their results.

One operation on one host is one ssh connection: the scripts of all agents
concerned travel together to one `bash -l -s` (inside the remote command when
small enough, else on ssh's stdin), and each prints a marked result line that
is parsed here. Nothing runs on the cluster but what
is shipped; the cluster never connects back.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shlex
import stat
import subprocess
import sys
import time
from collections import namedtuple
from collections.abc import Callable

from ..compile.bashlib import library
from ..compile.shell import words
from ..errors import HostUnreachable, OperationFailed, UsageError

RESULT = "@sac-result "
# A line a script prints while it waits (book.sh: its job's state), read as it
# comes: PROGRESS + a JSON object.
PROGRESS = "@sac-progress "
# The program's first line of output: seen, the host was reached and the
# program began, whatever became of the connection afterwards.
BEGIN = "@sac-begin"
END = "@sac-end "
LOCAL_HOSTS = ("localhost",)

# -v / --verbose (cli.sac sets it) or SAC_VERBOSE=1: every ssh command line, the
# size of the program it carries, ssh's whole stderr and where the time went,
# on stderr. BEFORE_TRACE: called before a trace line is written (a display that
# redraws one line in place ends it first).
VERBOSE = False
BEFORE_TRACE: Callable[[], None] | None = None


def verbose() -> bool:
    return VERBOSE or os.environ.get("SAC_VERBOSE", "").lower() not in ("", "0", "no", "off", "false")


def trace(message: str) -> None:
    """One or more lines on stderr, each marked `sac -v:`, when verbose."""
    if not verbose():
        return
    if BEFORE_TRACE is not None:
        BEFORE_TRACE()
    for line in message.splitlines() or [""]:
        sys.stderr.write(f"sac -v: {line}\n")
    sys.stderr.flush()


def shown(argv: list[str]) -> str:
    """ARGV as a shell would take it, the base64 program it may carry in its
    remote command shortened to its size."""
    out = []
    for word in argv:
        m = re.fullmatch(r"(.*echo )([A-Za-z0-9+/=]{64,})( \| base64 -d.*)", word, re.S)
        if m:
            word = f"{m.group(1)}<program: {len(m.group(2))} bytes of base64>{m.group(3)}"
        out.append(word)
    return shlex.join(out)


class Step(namedtuple("Step", "script args label env private", defaults=((), "", (), False))):
    """One script to run, with its arguments, and what it is about (for messages).
    env: ((NAME, value), ...) exported for this and every later step. private: the
    script holds values that may be secret (spec.env, a hold body, a user's
    script), so it never travels in the remote command line, which other users of
    the login node can read (ps)."""

    __slots__ = ()


class StepResult:
    """status: the script's exit status, None if it never finished; results: its
    parsed @sac-result objects."""

    __slots__ = ("label", "status", "results")

    def __init__(self, label: str, status: int | None, results: list | None = None):
        self.label, self.status, self.results = label, status, [] if results is None else results

    @property
    def result(self) -> dict | None:
        return self.results[-1] if self.results else None

    def __repr__(self) -> str:
        return f"StepResult(label={self.label!r}, status={self.status!r}, results={self.results!r})"


# lost: "" or, when the connection broke after the program had begun, what to
# say of each step that did not finish (what it did is not known).
BatchResult = namedtuple("BatchResult", "host returncode steps stdout stderr lost", defaults=("",))


def ssh_command() -> list[str]:
    value = os.environ.get("SAC_SSH") or "ssh"
    try:
        words_ = shlex.split(value)
    except ValueError as e:  # an unbalanced quote
        raise UsageError(f"SAC_SSH={value!r} is not a command line: {e}") from None
    return words_ or ["ssh"]


# OpenSSH binds a new master's socket as PATH.<16 random characters>, then renames
# it to PATH, here FOLDER/%C (40 hex digits). A socket path holds at most 103
# bytes on macOS and the BSDs (107 on Linux); one longer and every ssh call
# fails (exit 255). So the folder's path may have at most 103 - 58 bytes.
CONTROL_FOLDER_MAX = 103 - len("/") - 40 - len(".") - 16


def control_folder() -> str | None:
    """The folder of the connection masters' sockets: sac-ssh-<uid> in the first of
    $XDG_RUNTIME_DIR, $TMPDIR and /tmp whose path is short enough, made if
    missing; it must be a real folder of ours that only we can enter. None when
    there is none (then connections are not reused)."""
    uid = os.getuid()
    for root in (os.environ.get("XDG_RUNTIME_DIR"), os.environ.get("TMPDIR"), "/tmp"):
        if not root or not os.path.isabs(root):
            continue
        folder = os.path.join(root, f"sac-ssh-{uid}")
        if len(os.fsencode(folder)) > CONTROL_FOLDER_MAX:
            continue
        try:
            os.mkdir(folder, 0o700)
        except FileExistsError:
            pass
        except OSError:
            continue
        try:
            st = os.lstat(folder)
        except OSError:
            continue
        if stat.S_ISDIR(st.st_mode) and st.st_uid == uid and not st.st_mode & 0o077:
            return folder
    return None


def reuse_on() -> bool:
    """Connection reuse, unless SAC_SSH_CONTROL is 0, no, off or false."""
    return os.environ.get("SAC_SSH_CONTROL", "1").lower() not in ("0", "no", "off", "false")


def is_duration(text: str) -> bool:
    """TEXT is one of ssh's ControlPersist times of a second or more: seconds, or
    30m, 8h, 1h30m ... (0 is ssh's "for ever")."""
    return re.fullmatch(r"[0-9]+|([0-9]+[smhdwSMHDW])+", text) is not None and re.search(r"[1-9]", text) is not None


def _control_options() -> list[str]:
    """OpenSSH connection reuse: later commands ride on the first one's connection.
    Off with SAC_SSH_CONTROL=0."""
    if not reuse_on():
        return []
    folder = control_folder()
    if folder is None:
        return []
    persist = os.environ.get("SAC_SSH_PERSIST", "60")
    if not is_duration(persist):
        raise UsageError(f"SAC_SSH_PERSIST={persist!r} is not a duration of at least a second (e.g. 60, 10m, 1h)")
    return ["-o", "ControlMaster=auto", "-o", f"ControlPath={folder}/%C", "-o", f"ControlPersist={persist}"]


def ssh_timeout() -> int:
    """SAC_SSH_TIMEOUT in seconds (default 10, at least 1)."""
    try:
        return max(1, int(os.environ.get("SAC_SSH_TIMEOUT", "10")))
    except ValueError:
        return 10


def _plain_options() -> list[str]:
    # A connect timeout, so that a dead host is an error, not a hang; and a
    # connection that falls silent (a laptop that slept or changed networks under
    # a shared connection: every call riding on it would hang for as long as TCP
    # retries, many minutes) is given up after 3 unanswered probes, one per
    # timeout. What a config written for interactive logins adds is left out:
    # its RemoteCommand (with a command of our own, ssh would refuse to run) and
    # its port forwardings (a port the user's own session holds fails the
    # connection with ExitOnForwardFailure).
    timeout = ssh_timeout()
    return ["-o", f"ConnectTimeout={timeout}", "-o", f"ServerAliveInterval={timeout}", "-o", "ServerAliveCountMax=3",
            "-o", "RemoteCommand=none", "-o", "ClearAllForwardings=yes"]


def ssh_argv(host: str, remote_command: str, tty: bool = False) -> list[str]:
    # BatchMode: never hang on a password or host-key prompt (`sac connect` is
    # where those are answered). But for attach, no X11 or agent forwarding
    # either (set-up time, and the cluster has no use for the user's keys).
    opts = ["-o", "BatchMode=yes", *_plain_options(), *_control_options()]
    opts += ["-tt"] if tty else ["-T", "-x", "-a"]
    return [*ssh_command(), *opts, "--", host, remote_command]


def _shared_path(host: str) -> list[str]:
    if not reuse_on():
        raise UsageError("connection reuse is off (SAC_SSH_CONTROL=0): there is no shared connection "
                         f"to {host} to open, check or close")
    folder = control_folder()
    if folder is None:
        raise OperationFailed("no folder for the shared connection's socket: $XDG_RUNTIME_DIR, $TMPDIR and "
                              f"/tmp each lack a private sac-ssh-{os.getuid()} with a path of at most "
                              f"{CONTROL_FOLDER_MAX} bytes")
    return ["-o", f"ControlPath={folder}/%C"]


def shared_connection(host: str) -> bool:
    """Whether a shared connection to host is up (ssh -O check)."""
    argv = [*ssh_command(), *_shared_path(host), "-O", "check", "--", host]
    trace(f"{host}: {shown(argv)}")
    try:
        return subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL).returncode == 0
    except FileNotFoundError:
        raise HostUnreachable(f"cannot reach {host}: {argv[0]} not found (check SAC_SSH)") from None


def open_shared_connection(host: str, persist: str) -> bool:
    """Log in to host once, with the terminal (password, passphrase, one-time
    code: whatever the login asks), and leave the connection up for later calls
    until it has been idle for `persist` (ssh's ControlPersist). False when one
    was up already."""
    path = _shared_path(host)
    if shared_connection(host):
        return False
    argv = [*ssh_command(), "-o", "BatchMode=no", *_plain_options(), *path, "-o", "ControlMaster=yes",
            "-o", f"ControlPersist={persist}", "-T", "-x", "-a", "--", host, "true"]
    trace(f"{host}: {shown(argv)}")
    rc = subprocess.call(argv)
    if rc == 255:
        raise HostUnreachable(f"cannot reach host {host} (ssh exit 255; its message is above)")
    if rc != 0:
        raise OperationFailed(f"{host}: `true` failed there (exit {rc})")
    if not shared_connection(host):
        raise OperationFailed(f"logged in to {host}, but ssh left no shared connection (is a stale socket "
                              f"in the way? {path[1].split('=', 1)[1]})")
    return True


def close_shared_connection(host: str) -> bool:
    """End the shared connection to host (ssh -O exit). False when none was up."""
    path = _shared_path(host)
    if not shared_connection(host):
        return False
    argv = [*ssh_command(), *path, "-O", "exit", "--", host]
    trace(f"{host}: {shown(argv)}")
    subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return True


def compose(steps: list[Step]) -> str:
    """One bash program running every step in its own subshell. The whole program
    is one brace group, which bash parses completely before running any of it, so
    no command inside can read the rest of the program from stdin. Helper
    functions that the steps carry are defined once, ahead of them, and each
    step's subshell inherits them (compile.bashlib: each step keeps its own code)."""
    common, scripts = "", None
    if len(steps) > 1:
        common, scripts = library().hoist([step.script for step in steps])
    parts = ["{\n", f"printf '{BEGIN}\\n'\n", common]
    for i, step in enumerate(steps):
        script = scripts[i] if scripts else step.script
        for key, value in step.env:
            parts.append(f"export {key}={words([value])}\n")
        parts.append(f"(\nset -- {words(step.args)}\n" if step.args else "(\n")
        parts.append(script if script.endswith("\n") else script + "\n")
        parts.append(f")\nprintf '\\n{END}{i} %d\\n' \"$?\"\n")
    parts.append("} </dev/null\n")
    return "".join(parts)


def parse(stdout: str, n: int, labels: list[str]) -> list[StepResult]:
    steps = [StepResult(labels[i], None) for i in range(n)]
    current = 0
    for line in stdout.splitlines():
        if line.startswith(RESULT) and current < n:
            try:
                steps[current].results.append(json.loads(line[len(RESULT):]))
            except json.JSONDecodeError:
                pass
        elif line.startswith(END):
            try:
                idx, status = (int(x) for x in line[len(END):].split())
            except ValueError:
                continue
            if 0 <= idx < n:
                steps[idx].status = status
                current = idx + 1
    return steps


def last_line(text: str) -> str:
    """The last line of TEXT that is not blank ("" if none)."""
    lines = [ln for ln in text.strip().splitlines() if ln.strip()]
    return lines[-1] if lines else ""


# A program up to this size travels inside the remote command, base64-encoded
# (letters, digits, + / =: one word in any login shell): data on ssh's stdin only
# flows once the session is set up, which costs one more network round trip.
# Linux limits one argument, and sshd hands the command to the login shell as
# one, to 128 KiB; a larger program goes on stdin. So does a private one: the
# command line of the login shell is visible to every user of the host.
INLINE_MAX = 64 * 1024


def _inline_max() -> int:
    """SAC_SSH_INLINE bytes (0: always stdin, for an sshd with a short command
    limit), at most INLINE_MAX."""
    try:
        return max(0, min(int(os.environ.get("SAC_SSH_INLINE", INLINE_MAX)), INLINE_MAX))
    except ValueError:
        return INLINE_MAX


def remote_command(payload: bytes, private: bool = False) -> tuple[str, bytes | None]:
    """The remote command for a program, and what to send on ssh's stdin (None:
    nothing)."""
    if len(payload) <= _inline_max() and not private:

        return f"echo {base64.b64encode(payload).decode()} | base64 -d | bash -l -s", None
    return "bash -l -s", payload


def _scratch():
    """An anonymous temporary file (O_TMPFILE where the system has it: tempfile,
    which does the same, costs every `sac` call ~3 ms of imports)."""
    flag = getattr(os, "O_TMPFILE", 0)
    if flag:
        try:
            return open(os.open(os.environ.get("TMPDIR") or "/tmp", flag | os.O_RDWR, 0o600), "w+b")
        except OSError:
            pass
    import tempfile  # the fallback only: importing it costs every call ~3 ms

    return tempfile.TemporaryFile()


def run_batch(host: str, steps: list[Step], timeout: float | None = None, progress=None) -> BatchResult:
    """Run the steps on host in ONE connection; raise HostUnreachable if ssh failed.
    The output is read as it comes: PROGRESS, if given, is called with the object
    of each progress line, and with None for any other line (a script that waits
    prints an empty one each second)."""
    payload = compose(steps).encode()
    stdin: bytes | None
    if host in LOCAL_HOSTS:
        argv, stdin = ["bash", "-l", "-s"], payload
        trace(f"{host}: bash -l -s, without ssh")
    else:
        command, stdin = remote_command(payload, private=any(s.private for s in steps))
        argv = ssh_argv(host, command)
        trace(f"{host}: {shown(argv)}")
    trace(f"{host}: program {len(payload)} bytes, {len(steps)} step(s) ({', '.join(s.label for s in steps)}), "
          + ("inside the command line" if stdin is None else "on stdin"))
    started = time.monotonic()
    try:
        with _scratch() as err:
            # stderr to a file, not a pipe: an ssh connection master kept in the
            # background must not hold our pipe open.
            returncode, out, begun = _stream(argv, stdin, err, timeout, progress)
            err.seek(0)
            stderr = err.read().decode("utf-8", "replace")
    except FileNotFoundError:
        raise HostUnreachable(f"cannot reach {host}: {argv[0]} not found (check SAC_SSH)") from None
    except subprocess.TimeoutExpired:
        raise OperationFailed(f"{host}: no answer within {timeout:.0f} s") from None
    ended = time.monotonic()
    stdout = out.decode("utf-8", "replace")
    parsed = parse(stdout, len(steps), [s.label for s in steps])
    if verbose():
        parsed_at = time.monotonic()
        how = "ssh" if host not in LOCAL_HOSTS else "bash"
        if begun is None:
            times = f"{how} ran {ended - started:.3f} s and the program never began"
        else:
            times = (f"connect and login shell {begun - started:.3f} s, program {ended - begun:.3f} s, "
                     f"parse {parsed_at - ended:.3f} s")
        trace(f"{host}: {how} exit {returncode}; {times}")
        trace(f"{host}: {how}'s stderr: " + ("(empty)" if not stderr.strip() else f"{len(stderr.splitlines())} "
                                               "line(s):\n" + "\n".join("  " + ln for ln in stderr.splitlines())))
    lost = ""
    if returncode == 255 and host not in LOCAL_HOSTS and any(s.status is None for s in parsed):
        why = last_line(stderr) or "ssh failed (exit 255)"
        if BEGIN in stdout.splitlines():
            lost = f"the connection to {host} broke while sac's script ran there ({why}): what it did is not known"
        elif all(s.status is None for s in parsed):
            raise HostUnreachable(f"cannot reach host {host}: {why}")
    return BatchResult(host, returncode, parsed, stdout, stderr, lost)


_BEGIN_LINE = (BEGIN + "\n").encode()
_PROGRESS = PROGRESS.encode()


def _stream(argv: list[str], stdin: bytes | None, err, timeout: float | None, progress):
    """Run ARGV, STDIN on its stdin, and read its stdout line by line as it comes.
    Returns (exit status, stdout, when the program's first line came or None).
    An interruption (Ctrl-C, or a signal made one) ends the command and goes on."""
    import threading  # (subprocess imports it already: no cost)

    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL if stdin is None else subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=err)
    timer = None
    expired = []
    try:
        if timeout is not None:
            def expire():
                expired.append(True)
                proc.kill()
            timer = threading.Timer(timeout, expire)
            timer.daemon = True
            timer.start()
        if stdin is not None:
            def feed():
                try:
                    proc.stdin.write(stdin)  # type: ignore[union-attr]
                    proc.stdin.close()  # type: ignore[union-attr]
                except OSError:  # it ended without reading it all: its exit status tells
                    pass
            threading.Thread(target=feed, daemon=True).start()
        chunks, begun = [], None
        assert proc.stdout is not None
        for line in proc.stdout:
            chunks.append(line)
            if begun is None and line == _BEGIN_LINE:
                begun = time.monotonic()
            if progress is not None:
                event = None
                if line.startswith(_PROGRESS):
                    try:
                        event = json.loads(line[len(_PROGRESS):])
                    except ValueError:
                        pass
                progress(event if isinstance(event, dict) else None)
        returncode = proc.wait()
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    finally:
        if timer is not None:
            timer.cancel()
        if proc.stdout is not None:
            proc.stdout.close()
    if expired:
        raise subprocess.TimeoutExpired(argv, timeout or 0)
    return returncode, b"".join(chunks), begun


def program_output(stdout: str) -> str:
    """What the program printed, without the line compose() begins it with (what
    the login shell printed before it, a banner, stays)."""
    head, sep, tail = stdout.partition(BEGIN + "\n")
    if sep and (not head or head.endswith("\n")):
        return head + tail
    return stdout


def interactive_command(program: str) -> str:
    """The remote command that runs PROGRAM with the terminal as its stdin: one
    line of base64 inside single quotes, which every login shell (sh, bash, zsh,
    fish, and csh, which cannot hold a newline inside quotes) passes to bash as
    it is."""
    b64 = base64.b64encode(program.encode()).decode()
    return f"bash -l -c 'eval \"$(echo {b64} | base64 -d)\"'"


def run_interactive(host: str, script: str, args: tuple = ()) -> int:
    """Run one script with the user's terminal (attach). Returns its exit status."""
    program = f"set -- {words(args)}\n{script}" if args else script
    if host in LOCAL_HOSTS:
        trace(f"{host}: bash -l -c <program: {len(program.encode())} bytes>")
        return subprocess.call(["bash", "-l", "-c", program])
    argv = ssh_argv(host, interactive_command(program), tty=True)
    trace(f"{host}: {shown(argv)}")
    rc = subprocess.call(argv)
    if rc == 255:
        raise HostUnreachable(f"cannot reach host {host} (ssh exit 255)")
    return rc


# What run_passthrough() saw. begun: the program began (BEGIN); started: the
# step's start mark came, so every later byte was the command's; status: the
# STATUS of the end mark (None: none came); results: the @sac-result objects
# printed before the start mark; ended: the exit status of the step's script
# (its END line; None: it did not finish); returncode: ssh's (or local bash's);
# stderr: the last few KiB of what went to stderr.
Passed = namedtuple("Passed", "begun started status results ended returncode stderr")


class _Marks:
    """Reads the stdout of a program that prints, around the output of one
    command, `@sac-exec MARK\\n` before it and `@sac-exit MARK STATUS\\n` after
    it. What comes before the start mark (the login shell's noise, sac's own
    result lines) is kept in `head`; the command's bytes go to `write` as they
    come, except the few at the end that could be the start of the end mark,
    which wait for the next bytes; the end mark and what follows it are kept in
    `tail`. MARK is random: the command cannot print it by chance."""

    def __init__(self, mark: str, write):
        self.start = f"@sac-exec {mark}\n".encode()
        self.end = f"@sac-exit {mark} ".encode()
        self.write = write
        self.head = bytearray()
        self.pending = bytearray()
        self.tail: bytearray | None = None
        self.started = False

    def feed(self, data: bytes) -> None:
        if not self.started:
            self.head += data
            i = self.head.find(self.start)
            if i < 0:
                return
            self.started = True
            data = bytes(self.head[i + len(self.start):])
            del self.head[i:]
        if self.tail is not None:
            self.tail += data
            return
        self.pending += data
        j = self.pending.find(self.end)
        if j >= 0:
            self.tail = self.pending[j:]
            self.write(bytes(self.pending[:j]))
            self.pending.clear()
            return
        keep = 0
        for k in range(min(len(self.end) - 1, len(self.pending)), 0, -1):
            if self.pending.endswith(self.end[:k]):
                keep = k
                break
        cut = len(self.pending) - keep
        if cut:
            self.write(bytes(self.pending[:cut]))
            del self.pending[:cut]

    def close(self) -> tuple[int | None, int | None]:
        """At the end of the stream: the command's exit status from the end mark,
        and the script's from its END line (None: none came)."""
        if self.started and self.tail is None:
            self.write(bytes(self.pending))  # no end mark: all of it was the command's
            self.pending.clear()
        status = ended = None
        if self.tail is not None:
            m = re.match(re.escape(self.end) + rb"([0-9]+)\n", self.tail)
            status = int(m.group(1)) if m else None
        where = self.tail if self.tail is not None else self.head if not self.started else b""
        m = re.search(rb"(?m)^" + re.escape(END.encode()) + rb"0 ([0-9]+)$", where)
        if m:
            ended = int(m.group(1))
        return status, ended


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def run_passthrough(host: str, step: Step, mark: str, out: int = 1, err: int = 2) -> Passed:
    """Run one step whose command's stdout (between the marks of _Marks) goes to
    the file descriptor OUT byte for byte as it comes, and whose stderr goes to
    ERR, in one connection. The program travels on ssh's stdin (the command's
    own stdin is /dev/null). Raises HostUnreachable if ssh could not connect."""
    import selectors

    payload = compose([step]).encode("utf-8", "surrogateescape")
    if host in LOCAL_HOSTS:
        argv = ["bash", "-l", "-s"]
    else:
        argv = ssh_argv(host, remote_command(payload, private=True)[0])
    marks = _Marks(mark, lambda data: _write_all(out, data))
    stderr = bytearray()

    def to_err(data: bytes) -> None:
        _write_all(err, data)
        stderr.extend(data)
        del stderr[:-4096]

    with _scratch() as program:
        program.write(payload)
        program.seek(0)
        try:
            proc = subprocess.Popen(argv, stdin=program, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        except FileNotFoundError:
            raise HostUnreachable(f"cannot reach {host}: {argv[0]} not found (check SAC_SSH)") from None
    pidfd = -1
    try:
        sel = selectors.DefaultSelector()
        streams = {proc.stdout.fileno(): marks.feed, proc.stderr.fileno(): to_err}  # type: ignore[union-attr]
        for fd in streams:
            os.set_blocking(fd, False)
            sel.register(fd, selectors.EVENT_READ)
        # The end of ssh, not of its pipes, ends the loop: a connection master
        # that ssh leaves in the background may hold the pipes open.
        if hasattr(os, "pidfd_open"):
            try:
                pidfd = os.pidfd_open(proc.pid)
                sel.register(pidfd, selectors.EVENT_READ)
            except OSError:
                pidfd = -1
        done = False
        while streams:
            events = sel.select(0 if done else (None if pidfd >= 0 else 0.1))
            if not events and done:
                break
            for key, _ in events:
                if key.fd == pidfd:
                    continue
                try:
                    data = os.read(key.fd, 65536)
                except BlockingIOError:
                    continue
                if data:
                    streams[key.fd](data)
                else:
                    sel.unregister(key.fd)
                    del streams[key.fd]
            if not done and proc.poll() is not None:
                done = True  # read what is left in the pipes, then stop
                if pidfd >= 0:
                    sel.unregister(pidfd)
        proc.wait()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for f in (proc.stdout, proc.stderr):
            f.close()  # type: ignore[union-attr]
        if pidfd >= 0:
            os.close(pidfd)
    status, ended = marks.close()
    head = marks.head.decode("utf-8", "replace")
    begun = marks.started or BEGIN in head.splitlines()
    results = parse(head, 1, [step.label])[0].results
    tail = bytes(stderr).decode("utf-8", "replace")
    if proc.returncode == 255 and host not in LOCAL_HOSTS and not begun:
        raise HostUnreachable(f"cannot reach host {host}: {last_line(tail) or 'ssh failed (exit 255)'}")
    return Passed(begun, marks.started, status, results, ended, proc.returncode, tail)
ROUND = "@sac-round "


class KeptSession:
    """One connection to HOST kept open for a series of programs (`sac agent wait`,
    `sac list --watch`): `bash -l -s` on the host reads them one after another
    from ssh's standard input, so every round rides on the same connection and
    nothing is left running on the cluster between rounds, or after close().
    Each round's program runs in a subshell of its own (what one round exports
    never reaches the next) and ends with a line that says so."""

    def __init__(self, host: str):
        self.host = host
        self.proc: subprocess.Popen | None = None
        self.err = None
        self.rounds = 0
        self._buf = b""

    def _open(self) -> None:
        argv = ["bash", "-l", "-s"] if self.host in LOCAL_HOSTS else ssh_argv(self.host, "bash -l -s")
        self.err = _scratch()
        try:
            self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.err)
        except FileNotFoundError:
            raise HostUnreachable(f"cannot reach {self.host}: {argv[0]} not found (check SAC_SSH)") from None
        self._buf = b""

    def _stderr(self) -> str:
        if self.err is None:
            return ""
        self.err.seek(0)
        return self.err.read().decode("utf-8", "replace")

    def close(self) -> None:
        proc, self.proc = self.proc, None
        if proc is not None:
            try:
                if proc.stdin:
                    proc.stdin.close()
            except OSError:
                pass
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if self.err is not None:
            self.err.close()
            self.err = None

    def run(self, steps: list[Step], timeout: float = 120) -> BatchResult:
        """Run the steps on the host, over the kept connection (opened on first
        use, and again after it broke); like run_batch."""
        import select
        import time

        if self.proc is None or self.proc.poll() is not None:
            self.close()
            self._open()
        assert self.proc is not None and self.proc.stdin is not None and self.proc.stdout is not None
        self.rounds += 1
        mark = f"{ROUND}{self.rounds}"
        program = f"(\n{compose(steps)})\nprintf '\\n{mark}\\n'\n"
        try:
            self.proc.stdin.write(program.encode())
            self.proc.stdin.flush()
        except OSError:
            pass  # the connection is gone: said below, by what came back
        out, done = b"", False
        deadline = time.monotonic() + timeout
        fd = self.proc.stdout.fileno()
        while not done:
            end = self._buf.find(f"\n{mark}\n".encode())
            if end >= 0:
                out, self._buf, done = self._buf[:end + 1], self._buf[end + len(mark) + 2:], True
                break
            left = deadline - time.monotonic()
            if left <= 0:
                self.close()
                raise OperationFailed(f"{self.host}: no answer within {timeout:.0f} s")
            ready, _, _ = select.select([fd], [], [], left)
            if not ready:
                continue
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            self._buf += chunk
        stdout = (out if done else self._buf).decode("utf-8", "replace")
        parsed = parse(stdout, len(steps), [s.label for s in steps])
        if done:
            return BatchResult(self.host, 0, parsed, stdout, "", "")
        # The connection ended before the round did.
        self.proc.wait()
        rc, stderr = self.proc.returncode, self._stderr()
        self.close()
        why = last_line(stderr) or f"ssh ended with exit {rc}"
        if BEGIN in stdout.splitlines():
            return BatchResult(self.host, rc, parsed, stdout, stderr,
                               f"the connection to {self.host} broke while sac's script ran there ({why}): "
                               "what it did is not known")
        if rc == 255 or self.host in LOCAL_HOSTS:
            raise HostUnreachable(f"cannot reach host {self.host}: {why}")
        raise OperationFailed(f"{self.host}: {why}")
