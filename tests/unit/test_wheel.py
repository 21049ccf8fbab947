"""templates/ and schemas/ ship inside the wheel: a wheel installed in a fresh
venv builds the examples exactly like the source tree does."""

import subprocess
import sys
import venv

from .conftest import ROOT


def test_wheel_in_fresh_venv_builds_examples(tmp_path):
    dist = tmp_path / "dist"
    r = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(dist), str(ROOT)],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    (wheel,) = dist.glob("sacgen-*.whl")
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    pip = env_dir / "bin" / "pip"
    r = subprocess.run([str(pip), "install", "-q", str(wheel)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    out = tmp_path / "out"
    # Spec paths in the headers are relative to the cwd: build from the source
    # root, with the installed package (which finds its templates in site-packages).
    r = subprocess.run([str(env_dir / "bin" / "sacgen"), "build", "examples", "-o", str(out)],
                       capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert r.returncode == 0, r.stderr
    installed = subprocess.run([str(env_dir / "bin" / "python"), "-c",
                                "import sacgen.paths as r; print(r.template_dir())"],
                               capture_output=True, text=True, cwd=tmp_path).stdout
    assert "site-packages/sacgen/templates" in installed
    for p in (ROOT / "golden").rglob("*"):
        if p.is_file():
            assert (out / p.relative_to(ROOT / "golden")).read_bytes() == p.read_bytes(), p
    for prog in ("sac", "scitex-hpc"):
        assert subprocess.run([str(env_dir / "bin" / prog), "--help"], capture_output=True).returncode == 0
