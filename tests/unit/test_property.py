"""Property tests: every free-text field that reaches a script, with hostile values.

For each generated value the test writes an Agent YAML with the value in one field
and runs the real pipeline (sacgen.compile.specs.load_specs, sacgen.compile.render.render). Either
the spec is refused -- with one `FILE:LINE: FIELD.PATH: message` line per problem,
naming the field -- or it is accepted, and then:

* every .sh/.sbatch artifact passes `bash -n`;
* start.sh's here-documents write session.sh / job.sbatch byte for byte;
* session.sh, run by real bash with HOME and SAC_REMOTE_HOME in a temporary
  folder, starts the agent (a stub that records what it got) with exactly
  argv `--model MODEL FLAGS...`, the spec's environment, in the expanded workdir;
* no shell syntax in a value is ever run (`$(touch PWNED)` leaves no PWNED);
* the oracle (what the schema promises) and sacgen agree on accept / refuse.

The plain tests at the end pin the minimal examples the properties once found
(trailing newline, leading `-`, a hook looked up on PATH, builtin-named commands,
shellcheck notes on values quoted right).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, assume, given, note, settings
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument

from sacgen.compile.lint import lint_files, shellcheck_binary
from sacgen.compile.render import render
from sacgen.compile.source import display_path
from sacgen.compile.specs import load_specs
from sacgen.errors import SpecError

API = "scitex-agent-container/v3"
SETTINGS = dict(deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much,
                                       HealthCheck.data_too_large, HealthCheck.large_base_example])
PROPERTY = settings(max_examples=60, **SETTINGS)
SHELLCHECK = settings(max_examples=15, **SETTINGS)

ENV_BIN = shutil.which("env") or "/usr/bin/env"
BASH = shutil.which("bash") or "/bin/bash"
# Bash's builtins: a command of such a name must still run the program on PATH.
BUILTINS = frozenset(subprocess.run([BASH, "-c", "compgen -b"], capture_output=True, text=True).stdout.split())
# Variables bash sets or treats specially, the harness's own, and the loader's: an
# env key among them cannot be checked for byte-for-byte delivery to a bash stub.
SPECIAL_VARS = frozenset(subprocess.run(["env", "-i", BASH, "-c", "compgen -v"], capture_output=True,
                                        text=True).stdout.split()) | {
    "HOME", "PATH", "PWD", "OLDPWD", "CDPATH", "ENV", "BASH_ENV", "SHELLOPTS", "BASHOPTS", "GLOBIGNORE",
    "POSIXLY_CORRECT", "IFS", "LANG", "LANGUAGE", "TMPDIR", "TMUX", "TMUX_PANE", "TMUX_TMPDIR",
    "SAC_REMOTE_HOME", "PS1", "PS2", "PS3", "PS4", "TERM", "SHLVL", "_", "HISTFILE", "MAIL", "MAILPATH",
    "EXECIGNORE", "FUNCNEST", "TIMEFORMAT", "BASH_XTRACEFD", "BASH_COMPAT", "INPUTRC", "TMOUT",
}

# ----------------------------------------------------------------------------------
# Strategies
# ----------------------------------------------------------------------------------

FRAGMENTS = [
    "'", '"', "''", '""', "'\\''", "$(touch PWNED)", "`touch PWNED`", "$(touch${IFS}PWNED)", ">PWNED",
    "$HOME", "${HOME}", "$PATH", "$1", "$@", "$$", "$'\\n'", "$((1+1))", "\\", "\\\\", "\\n", "\\\n",
    "\n", "\r", "\t", "\r\n", " ", "  ", "*", "?", "[", "]", "[a-z]", "{a,b}", "!", "!!", "#", ";", "&", "&&",
    "|", "||", "<", ">", "(", ")", "=", "%", "^", "-", "--", "-x", "--help", "~", "~/", "~root", "/", "//",
    ".", "..", "./", "../", "a", "b", "x y", "é", "日本", "ß", "\u2028", "\u0085", "\ufeff", "\u200b", "💥",
    "\x1b[31m", "\x7f", "\x01", "\x00", "SAC_EOF", "\nSAC_EOF\n", "SAC_EOF_1", "EOF", "null", "true", "~",
    "0", "1.5", "0x1F", "- item", ": x", "? y", "&anchor", "*alias", "!!str", "%TAG", "@", "`", "${",
]

fragment = st.one_of(st.sampled_from(FRAGMENTS), st.text(max_size=4))
hostile_text = st.one_of(st.just(""), st.lists(fragment, max_size=6).map("".join), st.text())
# Values that are probably valid paths/names (few control characters), to reach the
# "accepted" side often; plus fully random text.
path_piece = st.lists(st.sampled_from([f for f in FRAGMENTS if not any(ord(c) < 32 or ord(c) == 127
                                                                       for c in f)])
                      | st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=6),
                      min_size=1, max_size=4).map("".join)


def with_newline(strategy):
    """The value and one trailing newline (the edge Python's `$` lets through)."""
    return strategy.map(lambda v: v + "\n")


path_like = st.one_of(
    st.builds(lambda pre, parts: pre + "/".join(parts),
              st.sampled_from(["", "", "~/", "./", "a/", "-", "-x/", "~"]), st.lists(path_piece, max_size=3)),
    hostile_text,
    with_newline(path_piece),
    st.sampled_from(sorted(BUILTINS)),
)
env_key = st.from_regex(r"\A[A-Za-z_][A-Za-z0-9_]{0,15}\Z").filter(lambda k: k not in SPECIAL_VARS)
env_value = st.one_of(hostile_text, st.integers(min_value=-(2 ** 63), max_value=2 ** 63))


# ----------------------------------------------------------------------------------
# What the schema promises (the oracle)
# ----------------------------------------------------------------------------------

CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def one_line(value, max_len):
    return isinstance(value, str) and 1 <= len(value) <= max_len and not CONTROL.search(value)


def valid_model(v):
    return one_line(v, 200)


def valid_path(v):  # workdir, pre_agent, claude.command
    return one_line(v, 4096)


def valid_text(v):  # flags items, env values
    if isinstance(v, int) and not isinstance(v, bool):
        return True
    return isinstance(v, str) and "\x00" not in v and len(v) <= 65536


def valid_key(k):
    return re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,127}", k) is not None


def valid_slurm_name(v):
    return re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_.+-]{0,63}", v) is not None


def valid_name(v):
    return re.fullmatch(r"[a-z][a-z0-9-]{0,47}", v) is not None


# Bash will not let a script set these (`UID=1 cmd`: "readonly variable"); the
# schema refuses them as env keys.
READONLY = {"BASHOPTS", "BASH_VERSINFO", "EUID", "PPID", "SHELLOPTS", "UID"}


# ----------------------------------------------------------------------------------
# Harness
# ----------------------------------------------------------------------------------

def agent(**spec) -> dict:
    base = {"runtime": "slurm", "model": "m"}
    base.update(spec)
    return {"apiVersion": API, "kind": "Agent", "spec": base}


def dump(data) -> str:
    """YAML for `data` that loads back to exactly `data` (PyYAML writes some
    characters, e.g. U+0085, raw with allow_unicode and then folds them on load)."""
    text = yaml.safe_dump(data, allow_unicode=True, sort_keys=False, width=10 ** 6)
    if yaml.safe_load(text) != data:
        text = yaml.safe_dump(data, allow_unicode=False, sort_keys=False, width=10 ** 6)
    assert yaml.safe_load(text) == data
    return text


def component_ok(path: str) -> bool:
    return all(len(c.encode()) <= 200 for c in path.split("/")) and len(path.encode()) <= 3000


class Sandbox:
    """A temporary HOME, SAC_REMOTE_HOME, cwd and a recording stub agent."""

    def __init__(self, root: Path):
        self.root = root
        self.home = root / "home"
        self.sac = root / "sac"
        self.cwd = root / "cwd"
        self.bin = root / "bin"
        self.decoy = root / "decoy"
        self.rec = root / "rec"
        self.specs = root / "specs"
        self.out = root / "out"
        for d in (self.home, self.sac, self.cwd, self.bin, self.decoy, self.rec, self.specs, self.out,
                  root / "tmux", root / "stub"):
            d.mkdir()
        self.stub = root / "stub" / "agent"
        self.write_stub(self.stub)

    def write_stub(self, path: Path) -> None:
        rec = str(self.rec)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(
            "#!/bin/bash\n"
            f"printf '%s\\0' \"$@\" >'{rec}/argv'\n"
            f"'{ENV_BIN}' -0 >'{rec}/env'\n"
            f"pwd -P >'{rec}/cwd_physical'\n"
            f"pwd >'{rec}/cwd_logical'\n"
        )
        path.chmod(0o755)

    def write_spec(self, data, stem="agent") -> Path:
        path = self.specs / f"{stem}.yaml"
        path.write_text(dump(data), encoding="utf-8")
        return path

    def env(self) -> dict:
        return {"PATH": f"{self.decoy}:{self.bin}:/usr/local/bin:/usr/bin:/bin", "HOME": str(self.home),
                "SAC_REMOTE_HOME": str(self.sac), "TMUX_TMPDIR": str(self.root / "tmux"), "LANG": "C.UTF-8"}

    def expand(self, value: str) -> str:
        """Where a path value of the spec points: `~`, `~/x` and a relative `x` are
        in HOME, whatever folder session.sh runs in (here: the cwd)."""
        if value == "~":
            return str(self.home)
        if value.startswith("~/"):
            return str(self.home) + "/" + value[2:]
        if value.startswith("/"):
            return value
        return str(self.home) + "/" + value

    def region(self, value: str) -> Path:
        """The fresh folder a path value lands in: HOME or abs/."""
        if value.startswith("/"):
            return self.root / "abs"
        return self.home

    def inside(self, path: str, region: Path) -> bool:
        norm = os.path.normpath(path)
        return os.path.commonpath([norm, str(region)]) == str(region)

    def pwned(self) -> list[str]:
        return [os.path.join(d, n) for d, dirs, files in os.walk(self.root) for n in dirs + files if n == "PWNED"]

    def record(self, name: str) -> bytes:
        return (self.rec / name).read_bytes()

    def recorded_env(self) -> dict[bytes, bytes]:
        out = {}
        for entry in self.record("env").split(b"\0"):
            if entry:
                k, _, v = entry.partition(b"=")
                out[k] = v
        return out


def sandbox():
    return tempfile.TemporaryDirectory(prefix="sacprop-")


def load(path: Path):
    """(spec, None) or (None, SpecError), checking the error's format on the way."""
    try:
        (spec,) = load_specs([str(path)])
    except SpecError as e:
        check_error_format(e, path)
        return None, e
    return spec, None


def check_error_format(err: SpecError, path: Path) -> None:
    where = display_path(path)
    assert err.problems, "a SpecError without problems"
    n_lines = path.read_text(encoding="utf-8").count("\n") + 1
    lines = [f"{where}:{p.line}: {p.field}: {p.message}" for p in err.problems]
    assert err.message == "\n".join(lines)
    if "\n" not in where:  # (the FILE part is the file's name as it is)
        assert len(err.message.split("\n")) == len(err.problems), f"not one line per problem: {err.message!r}"
    for line, p in zip(lines, err.problems):
        assert p.file == where
        assert 1 <= p.line <= n_lines
        assert p.field and p.message
        assert "\n" not in p.field and "\n" not in p.message
        assert re.fullmatch(r"\d+: [^\n]+?: [^\n]+", line[len(where) + 1:]), line


def assert_refused(err, path: Path, field: str, *, also=()) -> None:
    """The spec was refused, and every problem names `field` (or one of `also`)."""
    assert err is not None, "sacgen accepted a value the schema forbids"
    fields = [p.field for p in err.problems]
    assert field in fields, f"expected a problem on {field}, got {err.message!r}"
    assert all(f == field or f in also for f in fields), err.message
    text = path.read_text(encoding="utf-8")
    key = field.split(".")[-1].split("[")[0]
    key_lines = [i for i, ln in enumerate(text.split("\n"), 1) if re.match(rf"\s*(- )?{re.escape(key)}:", ln)]
    for p in err.problems:
        if p.field == field and key_lines and "[" not in field:
            assert p.line in key_lines, f"line {p.line} is not the line of {key}: {err.message!r}"


def write_artifacts(spec, dest: Path) -> dict[str, str]:
    arts = {a.name: a.text for a in render(spec)}
    dest.mkdir(parents=True, exist_ok=True)
    for name, text in arts.items():
        (dest / name).write_text(text, encoding="utf-8")
    return arts


# The files start.sh and book.sh carry: `# :artifact NAME -- ...` (or `# :data`),
# then a function that writes them with sac_install "$1" <<'DELIM'.
HEREDOC = re.compile(r"^# :(?:artifact|data) (\S+) -- [^\n]*\n\w+\(\) \{\n  (sac_install \"\$1\" <<'([A-Za-z0-9_]+)'\n)",
                     re.M)
INSTALL = re.compile(r"^sac_install\(\) \{\n.*?^\}\n", re.M | re.S)


def check_syntax_and_heredocs(arts: dict[str, str], dest: Path, scratch: Path) -> None:
    """`bash -n` on every script, and the here-documents of start.sh/book.sh write
    their files byte for byte (one bash process for all of it)."""
    scripts = [str(dest / n) for n in sorted(arts) if n.endswith((".sh", ".sbatch"))]
    assert len(scripts) == len(arts)
    snippets = []
    expected = {}
    for _name, text in arts.items():
        install = INSTALL.search(text)  # the scripts' own function, where they use it
        if install and install.group(0) not in snippets:
            snippets.insert(0, install.group(0))
        for m in HEREDOC.finditer(text):
            target, delim = m.group(1), m.group(3)
            end = text.index(f"\n{delim}\n", m.end() - 1)
            snippets.append(f'set -- "$dir/{target}"\n' + text[m.start(2):end + len(delim) + 2])
            expected[target] = text[m.end():end + 1] if end >= m.end() else ""
    scratch.mkdir()
    driver = ('for f in "$@"; do bash -n "$f" || { echo "bash -n failed: $f" >&2; exit 1; }; done\n'
              f"dir='{scratch}'\n" + "".join(snippets))
    r = subprocess.run([BASH, "-c", driver, "_", *scripts], capture_output=True, timeout=60,
                       env={"PATH": "/usr/bin:/bin", "HOME": str(scratch)})
    assert r.returncode == 0, r.stderr.decode(errors="replace")
    for target, body in expected.items():
        got = (scratch / target).read_bytes()
        assert got == body.encode(), f"here-document for {target} is not the text"
        if target in arts:
            assert got == arts[target].encode(), f"start.sh does not write {target} byte for byte"


def run_session(sb: Sandbox, spec, dest: Path) -> subprocess.CompletedProcess:
    (sb.sac / "agents" / spec.name).mkdir(parents=True, exist_ok=True)
    r = subprocess.run([BASH, str(dest / "session.sh")], cwd=sb.cwd, env=sb.env(), capture_output=True,
                       timeout=60)
    try:
        note(f"session.sh: rc={r.returncode} stdout={r.stdout[-2000:]!r} stderr={r.stderr[-2000:]!r}")
    except InvalidArgument:  # a plain test, not a property
        pass
    assert not sb.pwned(), f"a value was run as shell: {sb.pwned()}"
    return r


def check_delivery(sb: Sandbox, spec, r, *, argv_tail=None, env=(), cwd=None) -> None:
    """The agent ran once with exactly the spec's argv tail, env entries and cwd, and
    session.sh recorded its exit status where `sac` looks for it."""
    assert r.returncode == 0, r.stderr.decode(errors="replace")
    assert (sb.rec / "argv").exists(), "the agent did not run"
    got = sb.record("argv").split(b"\0")[:-1]
    tail = spec.flags if argv_tail is None else argv_tail
    want = [b"--model", spec.model.encode()] + [f.encode() for f in tail]
    assert got == want
    got_env = sb.recorded_env()
    for key, value in env:
        assert got_env.get(key.encode()) == str(value).encode(), f"env {key!r}"
    cwd = cwd if cwd is not None else str(sb.home)
    assert sb.record("cwd_logical") == os.path.normpath(cwd).encode() + b"\n"
    assert sb.record("cwd_physical") == os.path.realpath(cwd).encode() + b"\n"
    last = sb.sac / "agents" / spec.name / "last-exit"
    assert last.read_bytes() == b"0\n"


def accepted_flow(sb: Sandbox, spec, **expect):
    dest = sb.out / spec.name
    arts = write_artifacts(spec, dest)
    check_syntax_and_heredocs(arts, dest, sb.root / "heredoc")
    r = run_session(sb, spec, dest)
    check_delivery(sb, spec, r, **expect)
    return arts


# ----------------------------------------------------------------------------------
# The properties, one per field
# ----------------------------------------------------------------------------------

@PROPERTY
@given(flags=st.lists(hostile_text, max_size=5))
def test_flags_arrive_as_one_word_each(flags):
    with sandbox() as t:
        sb = Sandbox(Path(t))
        path = sb.write_spec(agent(claude={"command": str(sb.stub), "flags": flags}))
        spec, err = load(path)
        bad = [i for i, f in enumerate(flags) if not valid_text(f)]
        if bad:
            assert err is not None, "a flag with a NUL byte was accepted"
            assert {p.field for p in err.problems} == {f"spec.claude.flags[{i}]" for i in bad}, err.message
            return
        assert err is None, err.message
        assert spec.flags == tuple(flags)
        accepted_flow(sb, spec)


@PROPERTY
@given(env=st.dictionaries(env_key, env_value, min_size=1, max_size=4),
       ifs=st.none() | hostile_text.filter(lambda v: "\x00" not in v))
def test_env_values_arrive_exactly(env, ifs):
    """Any value reaches the agent byte for byte; an exported IFS (of any value)
    changes nothing else."""
    with sandbox() as t:
        sb = Sandbox(Path(t))
        full = dict(env)
        if ifs is not None:
            full["IFS"] = ifs
        path = sb.write_spec(agent(env=full, claude={"command": str(sb.stub), "flags": ["a b", "*"]}))
        spec, err = load(path)
        bad = [k for k, v in full.items() if not valid_text(v)]
        if bad:
            assert err is not None, "an env value with a NUL byte was accepted"
            assert {p.field for p in err.problems} == {f"spec.env.{k}" for k in bad}, err.message
            return
        assert err is None, err.message
        assert spec.env == tuple((k, str(v)) for k, v in full.items())
        accepted_flow(sb, spec, env=list(env.items()))


@PROPERTY
@given(key=st.one_of(env_key, hostile_text, st.lists(fragment, min_size=1, max_size=3).map("".join),
                     with_newline(env_key)),
       value=hostile_text.filter(lambda v: "\x00" not in v))
def test_env_keys_are_names_or_refused(key, value):
    with sandbox() as t:
        sb = Sandbox(Path(t))
        path = sb.write_spec(agent(env={key: value}, claude={"command": str(sb.stub)}))
        spec, err = load(path)
        if not valid_key(key):
            assert err is not None, f"env key {key!r} was accepted"
            assert {p.field for p in err.problems} == {"spec.env"}, err.message
            assert "environment variable name" in err.problems[0].message
            return
        assert err is None, err.message
        assume(key not in SPECIAL_VARS)
        accepted_flow(sb, spec, argv_tail=[], env=[(key, value)])


def _path_value(sb: Sandbox, text: str, absolute: bool) -> str:
    return f"{sb.root}/abs/{text}" if absolute else text


@PROPERTY
@given(text=path_like, absolute=st.booleans())
def test_workdir_is_entered_exactly(text, absolute):
    with sandbox() as t:
        sb = Sandbox(Path(t))
        value = _path_value(sb, text, absolute)
        path = sb.write_spec(agent(workdir=value, claude={"command": str(sb.stub), "flags": ["x"]}))
        spec, err = load(path)
        if not valid_path(value):
            assert_refused(err, path, "spec.workdir")
            assert "must be a path on one line" in err.problems[0].message or "too long" in err.problems[0].message \
                or "must not be empty" in err.problems[0].message
            return
        assert err is None, err.message
        assert spec.workdir == value
        # Only folders the test may create: inside the sandbox, short names.
        assume(absolute or not text.startswith("/"))
        where = sb.expand(value)
        assume(sb.inside(where, sb.region(value)) and component_ok(where))
        accepted_flow(sb, spec, cwd=where)


@PROPERTY
@given(text=path_like, absolute=st.booleans())
def test_pre_agent_hook_is_the_file_named(text, absolute):
    with sandbox() as t:
        sb = Sandbox(Path(t))
        value = _path_value(sb, text, absolute)
        tenant = {"apiVersion": API, "kind": "Agent",
                  "spec": {"runtime": "slurm-tenant", "model": "m",
                           "claude": {"command": str(sb.stub)},
                           "slurm": {"reservation": "pool", "hooks": {"pre_agent": value}}}}
        path = sb.write_spec(tenant)
        spec, err = load(path)
        if not valid_path(value):
            assert_refused(err, path, "spec.slurm.hooks.pre_agent")
            return
        assert err is None, err.message
        # The slurm runtime's scripts carry the hook too (job.sbatch sources it).
        slurm = agent(claude={"command": str(sb.stub)}, slurm={"hooks": {"pre_agent": value}})
        (slurm_spec,) = load_specs([str(sb.write_spec(slurm, "slurm-agent"))])
        dest = sb.out / "slurm-agent"
        check_syntax_and_heredocs(write_artifacts(slurm_spec, dest), dest, sb.root / "heredoc-slurm")
        assume(absolute or not text.startswith("/"))
        where = sb.expand(value)
        last = where.rstrip("/").rsplit("/", 1)[-1]
        assume(sb.inside(where, sb.region(value)) and component_ok(where) and not where.endswith("/")
               and last not in (".", "..") and value != "~")
        os.makedirs(os.path.dirname(where), exist_ok=True)
        assume(not os.path.isdir(where))
        Path(where).write_text(f"printf '%s' \"${{BASH_SOURCE[0]}}\" >'{sb.rec}/hook'\n"
                               "export SAC_TEST_HOOK=ran\n")
        if "/" not in value:
            (sb.decoy / value).write_text(f"printf decoy >'{sb.rec}/hook'\n")
        accepted_flow(sb, spec, argv_tail=[], env=[("SAC_TEST_HOOK", "ran")])
        assert sb.record("hook") == where.encode()  # never a file of that name on PATH


@PROPERTY
@given(text=path_like)
def test_command_is_the_program_named(text):
    with sandbox() as t:
        sb = Sandbox(Path(t))
        path = sb.write_spec(agent(claude={"command": text, "flags": ["--x", "$(touch PWNED)"]}))
        spec, err = load(path)
        if not valid_path(text):
            assert_refused(err, path, "spec.claude.command")
            return
        assert err is None, err.message
        assert spec.command == text
        dest = sb.out / spec.name
        arts = write_artifacts(spec, dest)
        check_syntax_and_heredocs(arts, dest, sb.root / "heredoc")
        # Where the program must be for the byte check (else bash -n was the check).
        # A relative path is run from the workdir (HOME here: no workdir is set).
        if text.startswith("~/"):
            where, region = str(sb.home) + "/" + text[2:], sb.home
        elif "/" in text and not text.startswith("/"):
            where, region = str(sb.home) + "/" + text, sb.home
        elif "/" not in text and text != "~":
            where, region = str(sb.bin) + "/" + text, sb.bin
        else:
            return
        last = where.rsplit("/", 1)[-1]
        assume(sb.inside(where, region) and where != str(region) and component_ok(where)
               and last not in ("", ".", "..")
               and ".." not in where.split("/"))
        sb.write_stub(Path(where))
        r = run_session(sb, spec, dest)
        check_delivery(sb, spec, r)


@PROPERTY
@given(model=st.one_of(hostile_text, path_piece, with_newline(path_piece)))
def test_model_is_one_word(model):
    with sandbox() as t:
        sb = Sandbox(Path(t))
        path = sb.write_spec(agent(model=model, claude={"command": str(sb.stub), "flags": ["-"]}))
        spec, err = load(path)
        if not valid_model(model):
            assert_refused(err, path, "spec.model")
            assert err.problems[0].message.startswith(("must be a model name on one line", "must not be empty",
                                                       "is too long"))
            return
        assert err is None, err.message
        accepted_flow(sb, spec)


plain_slurm_name = st.from_regex(r"\A[A-Za-z0-9_][A-Za-z0-9_.+-]{0,20}\Z")
slurm_name = st.one_of(plain_slurm_name, hostile_text, st.lists(fragment, min_size=1, max_size=3).map("".join),
                       with_newline(plain_slurm_name))


@PROPERTY
@given(value=slurm_name, field=st.sampled_from(["partition", "account", "qos"]), reservation=st.booleans())
def test_slurm_names_are_plain_directives(value, field, reservation):
    with sandbox() as t:
        sb = Sandbox(Path(t))
        if reservation:  # a Reservation carries them for its tenants
            data = {"apiVersion": API, "kind": "Reservation", "spec": {"host": "h", field: value}}
            where = f"spec.{field}"
        else:
            data = agent(claude={"command": str(sb.stub)}, slurm={field: value})
            where = f"spec.slurm.{field}"
        path = sb.write_spec(data)
        spec, err = load(path)
        if not valid_slurm_name(value):
            assert_refused(err, path, where)
            assert "must be a SLURM name" in err.problems[0].message or "too long" in err.problems[0].message \
                or "must not be empty" in err.problems[0].message
            return
        assert err is None, err.message
        dest = sb.out / spec.name
        arts = write_artifacts(spec, dest)
        check_syntax_and_heredocs(arts, dest, sb.root / "heredoc")
        sbatch = arts["reservation.sbatch" if reservation else "job.sbatch"]
        directives = [ln for ln in sbatch.split("\n") if ln.startswith("#SBATCH")]
        assert f"#SBATCH --{field}={value}" in directives
        for ln in directives:
            assert re.fullmatch(r"#SBATCH --[a-z-]+(=[A-Za-z0-9_.:@%+=,/-]+)?", ln), ln
        if not reservation:
            check_delivery(sb, spec, run_session(sb, spec, dest))


@PROPERTY
@given(name=st.one_of(st.from_regex(r"\A[a-z][a-z0-9-]{0,50}\Z"), hostile_text,
                      st.lists(fragment, min_size=1, max_size=3).map("".join),
                      with_newline(st.from_regex(r"\A[a-z][a-z0-9-]{0,10}\Z"))))
def test_metadata_name_is_the_stem(name):
    with sandbox() as t:
        sb = Sandbox(Path(t))
        # The name is the file's stem: use it as one when it can be a file name.
        as_stem = ("/" not in name and "\x00" not in name and name not in ("", ".", "..")
                   and len(name.encode()) <= 200)
        stem = name if as_stem else "agent"
        data = agent(claude={"command": str(sb.stub)})
        data = {"apiVersion": API, "kind": "Agent", "metadata": {"name": name}, "spec": data["spec"]}
        path = sb.write_spec(data, stem)
        spec, err = load(path)
        if not (valid_name(name) and stem == name):
            assert_refused(err, path, "metadata.name", also=("(document)",))
            return
        assert err is None, err.message
        assert spec.name == name
        arts = accepted_flow(sb, spec)
        assert f"#SBATCH --job-name=sac-{name}" in arts["job.sbatch"].split("\n")
        assert f"\nsac_name={name}\n" in arts["session.sh"]


@PROPERTY
@given(body=st.one_of(hostile_text, st.lists(st.sampled_from(["SAC_EOF", "SAC_EOF_1", "SAC_EOF_2", "x", "",
                                                              "'SAC_EOF'", "$(touch PWNED)", "\\"]),
                                             max_size=6).map("\n".join)))
def test_hold_body_is_written_exactly(body):
    """Not in the brief's list but the same kind of field: a Reservation's hold_body
    reaches book.sh as a here-document."""
    with sandbox() as t:
        sb = Sandbox(Path(t))
        path = sb.write_spec({"apiVersion": API, "kind": "Reservation",
                              "spec": {"host": "h", "hold_body": body}}, "pool")
        spec, err = load(path)
        if not valid_text(body):
            assert_refused(err, path, "spec.hold_body")
            return
        assert err is None, err.message
        dest = sb.out / "pool"
        arts = write_artifacts(spec, dest)
        check_syntax_and_heredocs(arts, dest, sb.root / "heredoc")
        written = sb.root / "heredoc" / "hold_body.sh"
        if body:
            assert written.read_bytes() == (body if body.endswith("\n") else body + "\n").encode()
        else:
            assert not written.exists()
        assert not sb.pwned()


# ----------------------------------------------------------------------------------
# shellcheck over the artifacts of specs with every field hostile at once
# ----------------------------------------------------------------------------------

def _valid(strategy, ok):
    return strategy.filter(ok)


@pytest.mark.skipif(shellcheck_binary() is None, reason="shellcheck not installed")
@SHELLCHECK
@given(model=_valid(hostile_text, lambda v: valid_model(v) and not v.endswith("\n")),
       command=_valid(path_like, lambda v: valid_path(v) and not v.endswith("\n")),
       workdir=_valid(path_like, lambda v: valid_path(v) and not v.endswith("\n")),
       hook=_valid(path_like, lambda v: valid_path(v) and not v.endswith("\n")),
       flags=st.lists(hostile_text.filter(valid_text), max_size=4),
       env=st.dictionaries(env_key, env_value.filter(valid_text), max_size=3),
       partition=_valid(slurm_name, lambda v: valid_slurm_name(v) and not v.endswith("\n")))
def test_shellcheck_passes_with_every_field_hostile(model, command, workdir, hook, flags, env, partition):
    with sandbox() as t:
        sb = Sandbox(Path(t))
        claude = {"command": command, "flags": flags}
        slurm_agent = agent(model=model, workdir=workdir, env=env, claude=claude,
                            slurm={"partition": partition, "hooks": {"pre_agent": hook}})
        tenant = {"apiVersion": API, "kind": "Agent",
                  "spec": {"runtime": "slurm-tenant", "model": model, "workdir": workdir, "env": env,
                           "claude": claude, "slurm": {"reservation": "pool", "hooks": {"pre_agent": hook}}}}
        paths = [sb.write_spec(slurm_agent, "one"), sb.write_spec(tenant, "two")]
        specs = load_specs([str(p) for p in paths])
        files = []
        for spec in specs:
            dest = sb.out / spec.name
            arts = write_artifacts(spec, dest)
            # The artifacts that carry the values (the others only carry the name).
            files += [dest / n for n in ("session.sh", "start.sh", "job.sbatch") if n in arts]
        findings = shellcheck_findings(files)
        assert findings == [], "\n".join(line for _, line in findings)


def shellcheck_findings(files) -> list[tuple[str, str]]:
    """(code, line) for each shellcheck finding; bash -n or unknown output fails."""
    findings = []
    for problem in lint_files(files):
        assert problem.startswith("shellcheck:\n"), problem
        for line in problem.split("\n")[1:]:
            if not line:
                continue
            m = re.search(r":\d+:\d+: \w+: .*\[(SC\d+)\]$", line)
            assert m, f"unexpected shellcheck output: {line}"
            findings.append((m.group(1), line))
    return findings


# ----------------------------------------------------------------------------------
# The minimal examples the properties found, kept as plain regression tests.
# ----------------------------------------------------------------------------------

TRAILING_NEWLINE_CASES = [
    ("spec.model", lambda sb: agent(model="m\n", claude={"command": str(sb.stub)})),
    ("spec.workdir", lambda sb: agent(workdir="w\n", claude={"command": str(sb.stub)})),
    ("spec.claude.command", lambda sb: agent(claude={"command": "claude\n"})),
    ("spec.slurm.hooks.pre_agent", lambda sb: agent(slurm={"hooks": {"pre_agent": "~/h.sh\n"}})),
    ("spec.env", lambda sb: agent(env={"A\n": "x"}, claude={"command": str(sb.stub)})),
    ("spec.slurm.partition", lambda sb: agent(slurm={"partition": "gpu\n"})),
    ("spec.slurm.account", lambda sb: agent(slurm={"account": "proj\n"})),
]


@pytest.mark.parametrize("field,data", TRAILING_NEWLINE_CASES, ids=[c[0] for c in TRAILING_NEWLINE_CASES])
def test_a_trailing_newline_is_refused(field, data):
    """JSON Schema patterns are ECMA-262: `$` is the end of the text, not "before a
    final newline" as in Python's re."""
    with sandbox() as t:
        sb = Sandbox(Path(t))
        path = sb.write_spec(data(sb))
        _, err = load(path)
        assert_refused(err, path, field)


def test_a_trailing_newline_in_env_key_never_renders():
    """Accepted, `env: {"A\\n": "x"}` would render `A` and a line `=x`."""
    with sandbox() as t:
        sb = Sandbox(Path(t))
        path = sb.write_spec(agent(env={"A\n": "x"}, claude={"command": str(sb.stub)}))
        spec, err = load(path)
        if err is not None:
            assert_refused(err, path, "spec.env")
            return
        session = {a.name: a.text for a in render(spec)}["session.sh"]
        assert "\nexport A\n=x\n" not in session


def test_a_trailing_newline_in_agent_name():
    """A file `abc\\n.yaml` with metadata.name `abc\\n` is not an agent named "abc\\n"."""
    with sandbox() as t:
        sb = Sandbox(Path(t))
        data = {"apiVersion": API, "kind": "Agent", "metadata": {"name": "abc\n"},
                "spec": {"runtime": "slurm", "model": "m"}}
        path = sb.write_spec(data, "abc\n")
        _, err = load(path)
        assert err is not None, "an agent named 'abc\\n' was accepted"


def test_workdir_dash_is_entered():
    """workdir "-" is the folder ~/-, not `cd -` (the previous directory)."""
    with sandbox() as t:
        sb = Sandbox(Path(t))
        path = sb.write_spec(agent(workdir="-", claude={"command": str(sb.stub)}))
        spec, err = load(path)
        assert err is None
        accepted_flow(sb, spec, cwd=str(sb.home / "-"))


def test_pre_agent_with_leading_dash_is_sourced():
    """pre_agent "-x/h.sh" is a file, not options of `source`."""
    with sandbox() as t:
        sb = Sandbox(Path(t))
        path = sb.write_spec({"apiVersion": API, "kind": "Agent",
                              "spec": {"runtime": "slurm-tenant", "model": "m", "claude": {"command": str(sb.stub)},
                                       "slurm": {"reservation": "pool", "hooks": {"pre_agent": "-x/h.sh"}}}})
        spec, err = load(path)
        assert err is None
        (sb.home / "-x").mkdir()
        (sb.home / "-x" / "h.sh").write_text(f"printf real >'{sb.rec}/hook'\n")
        accepted_flow(sb, spec, argv_tail=[])
        assert sb.record("hook") == b"real"


def test_command_with_leading_dash_runs_the_script():
    """command "-x/agent" (a script, relative to the workdir): the interpreter the
    kernel starts for it must not get `-x/agent` as its first argument."""
    with sandbox() as t:
        sb = Sandbox(Path(t))
        path = sb.write_spec(agent(claude={"command": "-x/agent"}))
        spec, err = load(path)
        assert err is None
        dest = sb.out / spec.name
        write_artifacts(spec, dest)
        sb.write_stub(sb.home / "-x" / "agent")
        check_delivery(sb, spec, run_session(sb, spec, dest))


def test_pre_agent_without_slash_is_not_looked_up_on_path():
    """pre_agent "hook.sh" is ~/hook.sh; `source hook.sh` would search $PATH first."""
    with sandbox() as t:
        sb = Sandbox(Path(t))
        path = sb.write_spec({"apiVersion": API, "kind": "Agent",
                              "spec": {"runtime": "slurm-tenant", "model": "m", "claude": {"command": str(sb.stub)},
                                       "slurm": {"reservation": "pool", "hooks": {"pre_agent": "hook.sh"}}}})
        spec, err = load(path)
        assert err is None
        (sb.home / "hook.sh").write_text(f"printf real >'{sb.rec}/hook'\n")
        (sb.decoy / "hook.sh").write_text(f"printf decoy >'{sb.rec}/hook'\n")
        accepted_flow(sb, spec, argv_tail=[])
        assert sb.record("hook") == b"real"


@pytest.mark.parametrize("name", ["test", ":", "%"])
def test_command_named_like_a_builtin_runs_the_program(name):
    """claude.command "test" is the program on PATH, not bash's builtin test."""
    with sandbox() as t:
        sb = Sandbox(Path(t))
        path = sb.write_spec(agent(claude={"command": name}))
        spec, err = load(path)
        assert err is None
        dest = sb.out / spec.name
        write_artifacts(spec, dest)
        sb.write_stub(sb.bin / name)
        r = run_session(sb, spec, dest)
        check_delivery(sb, spec, r)


SC_CASES = [
    ("SC1003", {"claude": {"flags": ["a\\"]}}),
    ("SC2088", {"env": {"A": "~/x"}}),
    ("SC1097", {"env": {"A": "=x"}}),
    ("SC2191", {"claude": {"flags": ["=x"]}}),
    ("SC1112", {"claude": {"flags": ["\u2018q\u2019"]}}),
    ("SC2209", {"workdir": "alias"}),
]


@pytest.mark.parametrize("code,extra", SC_CASES, ids=[c[0] for c in SC_CASES])
def test_shellcheck_is_quiet_on_a_correctly_quoted_value(code, extra):
    """Each value renders right (the property tests run it); shellcheck once
    reported `code` on session.sh for it."""
    if shellcheck_binary() is None:
        pytest.skip("shellcheck not installed")
    with sandbox() as t:
        sb = Sandbox(Path(t))
        (spec,) = load_specs([str(sb.write_spec(agent(**extra)))])
        dest = sb.out / spec.name
        write_artifacts(spec, dest)
        assert shellcheck_findings([dest / "session.sh"]) == []


@pytest.mark.parametrize("key", sorted(READONLY))
def test_a_read_only_bash_variable_is_refused(key):
    with sandbox() as t:
        sb = Sandbox(Path(t))
        path = sb.write_spec(agent(env={key: "1"}, claude={"command": str(sb.stub)}))
        _, err = load(path)
        assert_refused(err, path, f"spec.env.{key}")
        assert "read-only" in err.problems[0].message


def test_env_keys_named_like_the_scripts_own_variables_arrive_exactly():
    """The session script's own variables (agent, dir, status, workdir ...) are not
    touched by spec.env, and spec.env reaches the agent unchanged."""
    env = {k: f"value of {k}" for k in ("agent", "dir", "status", "workdir", "name", "log", "hook",
                                         "sac_root", "pool")}
    with sandbox() as t:
        sb = Sandbox(Path(t))
        path = sb.write_spec(agent(env=env, claude={"command": str(sb.stub), "flags": ["f"]}))
        spec, err = load(path)
        assert err is None, err.message
        accepted_flow(sb, spec, env=list(env.items()))
