"""`make demo` runs the whole mission on the local cluster and exits 0."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_demo_runs_end_to_end(cluster):
    env = cluster.environ()
    env["PATH"] = f"{Path(sys.executable).parent}:{env['PATH']}"
    env.pop("SAC_HOME", None)
    r = subprocess.run(["bash", str(ROOT / "demo" / "run.sh")], env=env, capture_output=True, text=True,
                       timeout=180, cwd=ROOT)
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-2000:]
    out = r.stdout
    assert "started 4, already running 0, failed 0" in out
    assert "singleton(unfulfilled)" in out
    assert "demo-pool: released" in out
    assert "Done: the demo ran on real SLURM daemons" in out
    assert "sac-demo-head" not in cluster.run(["squeue", "-h", "-o", "%j"]).stdout
    assert os.path.isdir(cluster.dir)
