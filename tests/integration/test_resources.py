"""GPUs, node features and further sbatch options on the real cluster: the
typed fields and extra_directives reach sbatch byte for byte, the job lands on
the node they ask for, a resubmitted job keeps them, and a tenant of a GPU
reservation sees the reservation's GPUs."""

from __future__ import annotations

import os
import pwd
import re

import pytest

from .sacutil import Sac, install_stub_agent, record_env, records, unique

# Characters sbatch's reading of an #SBATCH line gives a meaning (quotes,
# backslash, #, whitespace), and what a shell would.
HOSTILE_COMMENT = "it's \"lab\" #1 \\ $(id) `id` ; *  two  spaces ✓"


@pytest.fixture
def sac(cluster, sac_env, tmp_path):
    s = Sac(cluster, sac_env, tmp_path)
    pools: list[str] = []
    s.pools = pools
    yield s
    s.cleanup()
    if pools:
        cluster.run(["scancel", "-n", ",".join(f"sac-res-{p}" for p in pools)])


@pytest.fixture(scope="module")
def stub(cluster):
    return install_stub_agent(cluster)


def show_job(cluster, job: str) -> str:
    return cluster.run(["scontrol", "show", "job", "-d", job], check=True).stdout


def squeue_field(cluster, job: str, fmt: str) -> str:
    return cluster.run(["squeue", "-h", "-j", job, "-o", fmt], check=True).stdout.rstrip("\n")


def gpu_index(cluster, job: str) -> str:
    """The GPU indices SLURM gave JOB (scontrol show job -d: GRES=gpu:1(IDX:0))."""
    m = re.search(r"GRES=gpu[^ ]*\(IDX:([0-9,-]+)\)", show_job(cluster, job))
    assert m, show_job(cluster, job)
    return m.group(1)


def agent_yaml(cluster, sac, stub, name, **slurm):
    spec = {"runtime": "slurm", "model": "opus", "env": record_env(cluster, name),
            "claude": {"command": stub},
            "slurm": {"host": cluster.host, "time_limit": "30", "resubmit_before": 60, **slurm}}
    return sac.agent_yaml(name, spec)


def running_job(cluster, sac, name, other_than=()):
    def ok():
        st = sac.status(name)
        if st["state"] == "RUNNING" and st["session_alive"] and st["job_id"] not in other_than:
            return st["job_id"]
        return None
    return cluster.wait_for(ok, 120, f"agent {name} RUNNING with a live session")


def test_gpu_agent_runs_on_the_fast_node_and_its_successor_keeps_its_resources(cluster, sac, stub):
    name = unique("gpu")
    path = agent_yaml(cluster, sac, stub, name, gres="gpu:1", constraint="fast", mail_type="END,FAIL",
                      mail_user=cluster.user,
                      extra_directives=[f"--comment={HOSTILE_COMMENT}", "--gres-flags=enforce-binding"])
    # sbatch takes SBATCH_* of the environment over the script's lines: set in
    # the login shell (and so in the job, whose trap submits the successor),
    # they must not change what the YAML asks for.
    bashrc = cluster.home / ".bashrc"
    assert not bashrc.exists()
    bashrc.write_text("export SBATCH_GRES=gpu:2 SBATCH_CONSTRAINT=slow\n")
    pw = pwd.getpwnam(cluster.user)
    os.chown(bashrc, pw.pw_uid, pw.pw_gid)
    try:
        r = sac("agent", "start", path)
        assert r.returncode == 0, r.stderr
        first = running_job(cluster, sac, name)
        check_and_resubmit(cluster, sac, name, first)
    finally:
        bashrc.unlink()


def check_and_resubmit(cluster, sac, name, first):
    def check(job, running=True):
        shown = show_job(cluster, job)
        assert "Features=fast" in shown, shown
        assert re.search(r"TresPerNode=(gres:)?gpu:1\b", shown), shown
        assert f"MailUser={cluster.user} MailType=END,FAIL" in shown, shown
        assert squeue_field(cluster, job, "%N") == ("n1" if running else "")
        # The comment travelled through YAML, the #SBATCH line and sbatch's parser.
        assert squeue_field(cluster, job, "%k") == HOSTILE_COMMENT

    check(first)
    (rec,) = cluster.wait_for(lambda: records(cluster, name), 20, "the agent's record")
    assert rec["env"].get("CUDA_VISIBLE_DEVICES") == gpu_index(cluster, first)

    # The walltime trap resubmits the same script: the successor asks for the same.
    cluster.scancel(first, signal="USR1", batch=True)
    chain = lambda: cluster.run(["squeue", "-h", "-n", f"sac-{name}", "-o", "%i"]).stdout.split()  # noqa: E731
    cluster.wait_for(lambda: len(chain()) == 2, 15, "a successor in the queue")
    (successor,) = [j for j in chain() if j != first]
    check(successor, running=False)
    cluster.scancel(first)  # as walltime would end it
    assert running_job(cluster, sac, name, other_than=(first,)) == successor
    check(successor)
    assert sac("agent", "stop", name).returncode == 0
    cluster.wait_job_gone(successor)


def test_a_tenant_of_a_gpu_reservation_sees_its_gpus(cluster, sac, stub):
    pool = unique("gpool")
    sac.pools.append(pool)
    r = sac("reservations", "book", pool, "--host", cluster.host, "--cpus", "1", "--time", "30",
            "--tmux-server", pool, "--gpus", "1", "--constraint", "slow", "--extra=--comment=gpu pool")
    assert r.returncode == 0, r.stderr
    got = sac.json("reservations", "get", pool)
    job = got["job_id"]
    shown = show_job(cluster, job)
    assert "Features=slow" in shown and re.search(r"TresPerJob=(gres:)?gpu:1\b", shown), shown
    assert squeue_field(cluster, job, "%N") == "n2" and squeue_field(cluster, job, "%k") == "gpu pool"

    name = unique("gten")
    spec = {"runtime": "slurm-tenant", "model": "sonnet", "env": record_env(cluster, name),
            "claude": {"command": stub}, "slurm": {"reservation": pool}}
    r = sac("agent", "start", sac.agent_yaml(name, spec))
    assert r.returncode == 0, r.stderr
    (rec,) = cluster.wait_for(lambda: records(cluster, name), 20, "the tenant's record")
    assert rec["env"].get("CUDA_VISIBLE_DEVICES") == gpu_index(cluster, job)
    assert sac("reservations", "release", pool).returncode == 0


def test_bad_resources_are_refused_before_anything_is_sent(cluster, sac, stub):
    name = unique("badres")
    path = agent_yaml(cluster, sac, stub, name, gres="gpu:-1", extra_directives=["--dep=afterok:1", "-J x"])
    r = sac("agent", "start", path)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    lines = r.stderr.splitlines()
    assert any(re.match(rf".*{name}\.yaml:\d+: spec\.slurm\.gres: must be a GRES list", ln) for ln in lines), r.stderr
    assert any("spec.slurm.extra_directives[0]: --dep is an abbreviation of --dependency" in ln for ln in lines)
    assert any("spec.slurm.extra_directives[1]: must be one sbatch option word" in ln for ln in lines)
    r = sac("reservations", "book", unique("bpool"), "--host", cluster.host, "--extra=--output=/tmp/x")
    assert r.returncode == 2
    assert r.stderr.startswith("sac: --extra: --output is not for extra_directives"), r.stderr
    assert sac.ssh_calls() == 0
