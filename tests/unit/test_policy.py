"""Policy: the generated scripts never open a connection from the cluster, and
keep what they write private."""

import re

from sacgen.compile.build import render_tree
from sacgen.compile.render import BATCH_HELPERS
from sacgen.compile.specs import load_specs

FORBIDDEN = ("ssh", "scp", "sftp", "rsync", "curl", "wget", "nc", "ncat", "socat", "telnet", "autossh",
             "cloudflared", "crontab", "systemctl", "nohup", "at", "disown", "setsid")


def scripts():
    files = render_tree(load_specs(["examples"]))
    out = {rel: text for rel, (text, _) in files.items() if rel.endswith((".sh", ".sbatch"))}
    out.update({name: render() for name, render in BATCH_HELPERS.items()})
    return out


def test_no_artifact_calls_a_network_or_daemon_command():
    word = re.compile(r"(?:^|[\s;|&(`$]|\bexec\s)(" + "|".join(FORBIDDEN) + r")(?=\s|$|;)")
    for rel, text in scripts().items():
        for n, line in enumerate(text.splitlines(), 1):
            code = line.split("#", 1)[0] if not line.lstrip().startswith("#!") else ""
            if line.lstrip().startswith("#"):
                continue
            m = word.search(code)
            assert not m, f"{rel}:{n} calls {m.group(1)!r}: {line.strip()}"


def test_scripts_keep_their_files_private():
    for rel, text in scripts().items():
        if rel.endswith(("start.sh", "book.sh")):
            assert "umask 077" in text, rel
            assert "chmod 700" in text, rel


# Bash features newer than 4.2 (RHEL 7's bash, the oldest the README promises
# for login and compute nodes): a script using one dies there, often at once
# under `set -u`.
NEWER_BASH = {
    r"\bEPOCHSECONDS\b": "EPOCHSECONDS (5.0)", r"\bEPOCHREALTIME\b": "EPOCHREALTIME (5.0)",
    r"\bSRANDOM\b": "SRANDOM (5.1)", r"\bBASH_ARGV0\b": "BASH_ARGV0 (5.0)", r"\bwait -[a-z]*[np]": "wait -n/-p (4.3/5.1)",
    r"\b(local|declare|typeset) -[a-zA-Z]*n": "namerefs (4.3)", r"\$\{[^}]*@[QEPAaKk]\}": "${var@op} (4.4)",
    r"\b(mapfile|readarray) [^|;]*-d": "mapfile -d (4.4)", r"\[-[0-9]+\]": "negative array index (4.3)",
}


def test_scripts_run_on_bash_4_2():
    for rel, text in scripts().items():
        for n, line in enumerate(text.splitlines(), 1):
            if line.lstrip().startswith("#"):
                continue
            for pattern, what in NEWER_BASH.items():
                assert not re.search(pattern, line), f"{rel}:{n} uses {what}: {line.strip()}"
