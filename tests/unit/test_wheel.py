"""templates/ and schemas/ ship inside the wheel: a wheel installed in a fresh
venv builds the examples exactly like the source tree does. The wheel carries
the LICENSE, and a long description whose links do not break on an index's page.
The wheel is built from the sdist (python -m build), as an index's user would."""

import re
import subprocess
import sys
import venv
import zipfile
from email import message_from_bytes

import pytest

from .conftest import ROOT


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    dist = tmp_path_factory.mktemp("dist")
    r = subprocess.run([sys.executable, "-m", "build", "--outdir", str(dist), str(ROOT)],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    (found,) = dist.glob("sacgen-*.whl")
    return found


def test_wheel_has_the_license_and_a_long_description_without_relative_links(wheel):
    with zipfile.ZipFile(wheel) as z:
        names = z.namelist()
        licenses = [n for n in names if re.match(r"^sacgen-[^/]+\.dist-info/(licenses/)?LICENSE$", n)]
        assert licenses, names
        text = z.read(licenses[0]).decode()
        assert "MIT License" in text and "Copyright (c) the sacgen authors" in text
        (meta_name,) = [n for n in names if n.endswith(".dist-info/METADATA")]
        meta = message_from_bytes(z.read(meta_name))
    assert meta["License"] == "MIT"
    assert "License :: OSI Approved :: MIT License" in meta.get_all("Classifier")
    assert meta["Description-Content-Type"] == "text/markdown"
    body = meta.get_payload()
    assert "pipx install" in body and "uv tool install" in body
    targets = re.findall(r"\]\(([^)\s]*)", body) + re.findall(r"^\[[^\]]+\]:\s*(\S+)", body, re.M)
    targets += re.findall(r"""<(?:a|img)\b[^>]*?(?:href|src)=["']([^"']*)""", body)
    relative = [t for t in targets if not re.match(r"^(https?|mailto):", t)]
    assert not relative, f"relative links in the long description: {relative}"


def test_wheel_in_fresh_venv_builds_examples(wheel, tmp_path):
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
