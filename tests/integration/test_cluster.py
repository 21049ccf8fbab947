"""The local test cluster is a real SLURM cluster with a real login node.

These tests prove the properties the rest of the suite builds on: two nodes that
run jobs, proctrack/cgroup killing what a job step leaves behind (and not what
the batch script started), signals reaching a trap in the batch shell, and an
sshd whose login user lives under the cluster's directory.
"""

from __future__ import annotations

import os
import re
import subprocess
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the fixtures come from conftest.py; no import at run time
    from .conftest import Cluster

REPO = Path(__file__).resolve().parents[2]


def tmux(cluster: Cluster, socket: str, *args: str) -> subprocess.CompletedProcess:
    return cluster.run(["tmux", "-L", socket, *args], timeout=30)


def has_session(cluster: Cluster, socket: str, name: str) -> bool:
    return tmux(cluster, socket, "has-session", "-t", name).returncode == 0


def test_both_nodes_are_idle_in_the_default_partition(cluster: Cluster):
    def nodes():
        out = cluster.run(["sinfo", "-h", "-N", "-o", "%N %t"], check=True).stdout
        return dict(line.split() for line in out.splitlines()) == {"n1": "idle", "n2": "idle"}

    cluster.wait_for(nodes, 30, "n1 and n2 idle")
    parts = cluster.run(["sinfo", "-h", "-o", "%P %a %l %D %N"], check=True).stdout.splitlines()
    assert sorted(parts) == ["debug* up infinite 2 n[1-2]", "high up infinite 2 n[1-2]"]
    conf = cluster.run(["scontrol", "show", "config"], check=True).stdout
    assert re.search(r"^ProctrackType\s*=\s*proctrack/cgroup$", conf, re.M)


def test_up_again_reuses_the_running_cluster(cluster: Cluster):
    t0 = time.monotonic()
    proc = subprocess.run(["bash", str(REPO / "cluster" / "up.sh")], capture_output=True,
                          text=True, timeout=60, env=cluster.environ())
    took = time.monotonic() - t0
    assert proc.returncode == 0, proc.stderr
    assert "already up" in proc.stdout
    assert took < 5
    status = subprocess.run(["bash", str(REPO / "cluster" / "status.sh")],
                            capture_output=True, text=True, timeout=60, env=cluster.environ())
    assert status.returncode == 0, status.stdout + status.stderr
    assert re.search(r"slurmd-n2\s+pid \d+\s+alive", status.stdout)


def test_env_sh_alone_makes_local_slurm_commands_work(cluster: Cluster):
    proc = subprocess.run(
        ["env", "-i", "PATH=/usr/bin:/bin", "bash", "--noprofile", "--norc", "-c",
         '. "$1" && sinfo -h -o %P && $SAC_SSH "$SAC_TEST_HOST" true && echo ssh-ok',
         "bash", str(cluster.dir / "env.sh")],
        capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["debug*", "high", "ssh-ok"]


def test_a_job_pinned_to_n2_runs_there(cluster: Cluster, jobs: list[str]):
    work = cluster.workdir("pinned")
    job = cluster.sbatch("-w", "n2", f"--chdir={work}", f"--output={work}/%j.out",
                         "--wrap", 'echo "node=$SLURMD_NODENAME"')
    jobs.append(job)
    cluster.wait_job_state(job, "COMPLETED")
    assert cluster.job_field(job, "%N") == "n2"
    assert (work / f"{job}.out").read_text() == "node=n2\n"


def test_a_two_node_job_runs_on_both_nodes(cluster: Cluster, jobs: list[str]):
    work = cluster.workdir("two-nodes")
    job = cluster.sbatch("-N2", f"--chdir={work}", f"--output={work}/%j.out",
                         "--wrap", "srun -l printenv SLURMD_NODENAME | sort")
    jobs.append(job)
    cluster.wait_job_state(job, "COMPLETED")
    assert cluster.job_field(job, "%D %N") == "2 n[1-2]"
    assert (work / f"{job}.out").read_text() == "0: n1\n1: n2\n"


def hold_job(cluster: Cluster, jobs: list[str], work: Path, body: str, node: str = "n1",
             after: str = "") -> str:
    """Submit a batch job that runs ``body``, holds with ``sleep & wait`` (so
    that traps run at once), then runs ``after``; wait until it runs and
    return its id."""
    script = f"#!/bin/bash\n{body}\nsleep infinity &\nwait $!\n{after}\nexit 0\n"
    job = cluster.sbatch("-w", node, f"--chdir={work}", f"--output={work}/%j.out", script=script)
    jobs.append(job)
    cluster.wait_job_state(job, "RUNNING")
    return job


def test_tmux_started_by_a_job_step_dies_with_the_step(cluster: Cluster, jobs: list[str]):
    work = cluster.workdir("step-tmux")
    job = hold_job(cluster, jobs, work, "")
    sock = f"step-{uuid.uuid4().hex[:8]}"
    step = cluster.run(
        ["srun", f"--jobid={job}", "--overlap", "-n1", "bash", "-c",
         f"tmux -L {sock} new-session -d -s tenant 'sleep infinity'"
         f" && tmux -L {sock} has-session -t tenant && echo alive-in-step"],
        timeout=60)
    assert step.returncode == 0, step.stderr
    assert step.stdout.strip() == "alive-in-step"
    # proctrack/cgroup killed the tmux server with the step that started it.
    cluster.wait_for(lambda: not has_session(cluster, sock, "tenant"), 10,
                     "the step's tmux session to die")
    assert cluster.job_state(job) == "RUNNING"


def test_tmux_server_of_the_batch_script_keeps_sessions_until_scancel(
        cluster: Cluster, jobs: list[str]):
    work = cluster.workdir("batch-tmux")
    sock = f"sac-{uuid.uuid4().hex[:8]}"
    job = hold_job(cluster, jobs, work,
                   f"tmux -L {sock} new-session -d -s _root 'sleep infinity'", node="n2")
    cluster.wait_for(lambda: has_session(cluster, sock, "_root"), 10,
                     "the batch script's tmux server")
    step = cluster.run(["srun", f"--jobid={job}", "--overlap", "-n1",
                        "tmux", "-L", sock, "new-session", "-d", "-s", "t1", "sleep infinity"],
                       timeout=60)
    assert step.returncode == 0, step.stderr

    # The step is over; only the batch step is left, and the session lives on.
    def steps():
        out = cluster.run(["squeue", "-h", "-s", "-j", job, "-o", "%i"], check=True).stdout
        return out.split() == [f"{job}.batch"]

    cluster.wait_for(steps, 10, f"job {job} to have only its batch step")
    assert has_session(cluster, sock, "t1")
    # ...because its processes belong to the batch step's cgroup.
    pane_pid = tmux(cluster, sock, "display-message", "-p", "-t", "t1", "#{pane_pid}").stdout.strip()
    cgroups = Path(f"/proc/{pane_pid}/cgroup").read_text()
    assert re.search(rf"freezer:/slurm_n2/uid_\d+/job_{job}/step_batch$", cgroups, re.M), cgroups
    sessions = tmux(cluster, sock, "list-sessions", "-F", "#{session_name}").stdout.split()
    assert sorted(sessions) == ["_root", "t1"]

    cluster.scancel(job)
    cluster.wait_for(lambda: not has_session(cluster, sock, "t1"), 10,
                     "scancel to take the tenant session down")
    assert not has_session(cluster, sock, "_root")
    cluster.wait_job_gone(job)


def test_usr1_to_the_batch_shell_reaches_a_trap_while_held_by_wait(
        cluster: Cluster, jobs: list[str]):
    work = cluster.workdir("usr1")
    flag = work / "usr1.flag"
    job = hold_job(cluster, jobs, work,
                   f"trap 'echo got-usr1 > {flag}' USR1\necho ready > {work}/ready",
                   after=f'echo "wait returned $?" >> {flag}')
    cluster.wait_for((work / "ready").exists, 10, "the trap to be set")
    proc = cluster.scancel(job, signal="USR1", batch=True)
    assert proc.returncode == 0, proc.stderr
    cluster.wait_for(flag.exists, 10, "the USR1 trap to write its flag")
    # The trap ran at once and ended `wait` (128 + SIGUSR1), so the script
    # went on to its end.
    cluster.wait_job_state(job, "COMPLETED")
    assert flag.read_text() == "got-usr1\nwait returned 138\n"


def test_login_node_answers_squeue_over_ssh(cluster: Cluster):
    logins = cluster.ssh_logins()
    proc = cluster.ssh_run("squeue")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split()[:2] == ["JOBID", "PARTITION"]
    # The sshd log counts connections (the round-trip tests rely on it).
    cluster.wait_for(lambda: cluster.ssh_logins() == logins + 1, 5, "sshd to log the login")
    # A login shell greets on stdout first, as real clusters do; the command still works.
    proc = cluster.ssh_run("bash -lc 'squeue -h -o %P; sinfo -h -o %P'")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("Welcome to the sac test cluster")
    assert lines[1:] == ["debug*", "high"]
    # A script fed to `bash -l` on stdin is not eaten by the profile.
    proc = cluster.run([*cluster.ssh, cluster.host, "bash", "-l"], input="echo from-stdin\n")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[-1] == "from-stdin"


def test_the_login_user_submits_jobs_over_ssh(cluster: Cluster, jobs: list[str]):
    work = cluster.workdir("remote")
    proc = cluster.ssh_run(f"sbatch --parsable --chdir={work} --output=%j.out"
                           " --wrap 'echo \"$USER $HOME $SLURMD_NODENAME\"'")
    assert proc.returncode == 0, proc.stderr
    job = proc.stdout.strip()
    jobs.append(job)
    cluster.wait_job_state(job, "COMPLETED")
    assert cluster.job_field(job, "%u") == cluster.user
    user, home, node = (work / f"{job}.out").read_text().split()
    assert (user, home) == (cluster.user, str(cluster.home))
    assert node in {"n1", "n2"}


def test_a_wrong_key_is_refused_with_status_255(cluster: Cluster, tmp_path: Path):
    key = tmp_path / "other_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    config = (cluster.dir / "ssh_config").read_text()
    config, n = re.subn(r"IdentityFile .*", f'IdentityFile "{key}"', config)
    assert n == 1
    wrong = tmp_path / "ssh_config"
    wrong.write_text(config)
    proc = cluster.run(["ssh", "-F", str(wrong), cluster.host, "true"])
    assert proc.returncode == 255
    assert "Permission denied" in proc.stderr
    assert cluster.ssh_run("true").returncode == 0


def test_the_remote_side_lives_under_the_cluster_dir(cluster: Cluster):
    proc = cluster.ssh_run('printf "%s\\n" "$HOME" "$PWD" "$TMUX_TMPDIR" "$SLURM_CONF" "$(id -un)"')
    assert proc.returncode == 0, proc.stderr
    home, cwd, tmux_tmpdir, slurm_conf, user = proc.stdout.splitlines()
    assert home == cwd == str(cluster.home)
    assert Path(home).is_relative_to(cluster.dir)
    assert tmux_tmpdir == cluster.env["TMUX_TMPDIR"]
    assert Path(tmux_tmpdir).is_relative_to(cluster.dir)
    assert slurm_conf == str(cluster.slurm_conf)
    assert user == cluster.user != "root"
    # A tmux server started over ssh puts its socket under TMUX_TMPDIR.
    sock = f"login-{uuid.uuid4().hex[:8]}"
    proc = cluster.ssh_run(f"tmux -L {sock} new-session -d -s x 'sleep 60'"
                           f" && tmux -L {sock} display-message -p '#{{socket_path}}'"
                           f" && tmux -L {sock} kill-server")
    assert proc.returncode == 0, proc.stderr
    assert Path(proc.stdout.strip()).is_relative_to(tmux_tmpdir)


def test_zz_nothing_landed_in_tmp_tmux_0(cluster: Cluster):
    """Runs last (pytest keeps file order): the tests left /tmp/tmux-0 alone."""
    now = set(os.listdir("/tmp/tmux-0")) if os.path.isdir("/tmp/tmux-0") else None
    if cluster.tmux0_before is None:
        assert now is None, f"/tmp/tmux-0 appeared: {sorted(now)}"
    else:
        assert now is not None and now <= cluster.tmux0_before, sorted(now - cluster.tmux0_before)


# ----------------------------------------------------------------------------- GPUs, features, preemption

def test_each_node_has_two_stand_in_gpus_and_a_feature(cluster: Cluster):
    out = cluster.run(["sinfo", "-h", "-N", "-o", "%N %G %f"], check=True).stdout
    assert sorted(set(out.splitlines())) == ["n1 gpu:2 fast", "n2 gpu:2 slow"], out
    parts = cluster.run(["sinfo", "-h", "-o", "%P"], check=True).stdout.split()
    assert sorted(parts) == ["debug*", "high"]


def test_a_gpu_job_sees_its_gpu_and_a_constraint_picks_the_node(cluster: Cluster, jobs: list[str], tmp_path: Path):
    out = tmp_path / "gpu.out"
    job = cluster.sbatch("--gres=gpu:1", "--constraint=slow", f"--output={out}", "--chdir=/tmp",
                         script="#!/bin/bash\necho \"cvd=${CUDA_VISIBLE_DEVICES:-unset} node=$SLURMD_NODENAME\"\n")
    jobs.append(job)
    cluster.wait_job_state(job, {"COMPLETED"}, 30)
    cluster.wait_for(lambda: out.is_file() and "node=" in out.read_text(), 10, "the job's output")
    assert out.read_text().strip() == "cvd=0 node=n2"


def test_a_job_of_partition_high_preempts_a_debug_job_which_is_requeued(cluster: Cluster, jobs: list[str]):
    victim = cluster.sbatch("-w", "n1", "-c", "4", "--requeue", "--chdir=/tmp", "--output=/dev/null",
                            script="#!/bin/bash\nsleep 300\n")
    jobs.append(victim)
    cluster.wait_job_state(victim, {"RUNNING"}, 30)
    boss = cluster.sbatch("-p", "high", "-w", "n1", "-c", "4", "--chdir=/tmp", "--output=/dev/null",
                          script="#!/bin/bash\nsleep 300\n")
    jobs.append(boss)
    cluster.wait_job_state(boss, {"RUNNING"}, 60)
    # Requeued: the same id waits again (PENDING), counted as a restart.
    cluster.wait_job_state(victim, {"PENDING"}, 30)
    shown = cluster.run(["scontrol", "show", "job", victim], check=True).stdout
    assert re.search(r"\bRestarts=1\b", shown), shown
