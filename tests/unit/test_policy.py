"""Policy: the generated scripts never open a connection from the cluster, and
keep what they write private."""

import re

from sacgen.build import render_tree
from sacgen.render import BATCH_HELPERS
from sacgen.spec import load_specs

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
