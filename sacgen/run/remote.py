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
from collections import namedtuple

from ..compile.bashlib import library
from ..compile.shell import words
from ..errors import HostUnreachable, OperationFailed, UsageError

RESULT = "@sac-result "
# The program's first line of output: seen, the host was reached and the
# program began, whatever became of the connection afterwards.
BEGIN = "@sac-begin"
END = "@sac-end "
LOCAL_HOSTS = ("localhost",)


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
    subprocess.run([*ssh_command(), *path, "-O", "exit", "--", host], stdin=subprocess.DEVNULL,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
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


def run_batch(host: str, steps: list[Step], timeout: float | None = None) -> BatchResult:
    """Run the steps on host in ONE connection; raise HostUnreachable if ssh failed."""
    payload = compose(steps).encode()
    stdin: bytes | None
    if host in LOCAL_HOSTS:
        argv, stdin = ["bash", "-l", "-s"], payload
    else:
        command, stdin = remote_command(payload, private=any(s.private for s in steps))
        argv = ssh_argv(host, command)
    try:
        with _scratch() as err:
            # stderr to a file, not a pipe: an ssh connection master kept in the
            # background must not hold our pipe open.
            if stdin is None:
                proc = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=err,
                                      timeout=timeout)
            else:
                proc = subprocess.run(argv, input=stdin, stdout=subprocess.PIPE, stderr=err, timeout=timeout)
            err.seek(0)
            stderr = err.read().decode("utf-8", "replace")
    except FileNotFoundError:
        raise HostUnreachable(f"cannot reach {host}: {argv[0]} not found (check SAC_SSH)") from None
    except subprocess.TimeoutExpired:
        raise OperationFailed(f"{host}: no answer within {timeout:.0f} s") from None
    stdout = proc.stdout.decode("utf-8", "replace")
    parsed = parse(stdout, len(steps), [s.label for s in steps])
    lost = ""
    if proc.returncode == 255 and host not in LOCAL_HOSTS and any(s.status is None for s in parsed):
        why = last_line(stderr) or "ssh failed (exit 255)"
        if BEGIN in stdout.splitlines():
            lost = f"the connection to {host} broke while sac's script ran there ({why}): what it did is not known"
        elif all(s.status is None for s in parsed):
            raise HostUnreachable(f"cannot reach host {host}: {why}")
    return BatchResult(host, proc.returncode, parsed, stdout, stderr, lost)


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
        return subprocess.call(["bash", "-l", "-c", program])
    rc = subprocess.call(ssh_argv(host, interactive_command(program), tty=True))
    if rc == 255:
        raise HostUnreachable(f"cannot reach host {host} (ssh exit 255)")
    return rc


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
