"""The rendered-script cache of `sac` ($SAC_HOME/cache) and render_artifact,
which renders one artifact alone."""

import os
from pathlib import Path

import pytest

from sacgen import paths
from sacgen.compile import render as render_module
from sacgen.compile.model import AgentSpec
from sacgen.compile.render import BATCH_HELPERS, render, render_artifact
from sacgen.compile.specs import load_specs
from sacgen.run import cache
from sacgen.run.cache import load_specs as cached_load_specs

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = load_specs([str(ROOT / "examples")])


@pytest.mark.parametrize("spec", EXAMPLES, ids=[s.name for s in EXAMPLES])
def test_render_artifact_is_exactly_render(spec):
    for art in render(spec):
        assert render_artifact(spec, art.name) == art.text, art.name
    with pytest.raises(KeyError):
        render_artifact(spec, "no-such.sh")


def test_render_artifact_of_the_batch_helpers():
    assert set(BATCH_HELPERS) == {"launch-queue.sh", "stop-queue.sh", "snapshot-cleanup.sh", "snapshot-prefetch.sh"}
    for name, render_helper in BATCH_HELPERS.items():
        assert render_artifact(None, name) == render_helper()


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("SAC_HOME", str(tmp_path))
    monkeypatch.delenv("SAC_CACHE", raising=False)
    return tmp_path


def tenant(name="t1", reservation="pool"):
    return AgentSpec(name=name, source="(test)", runtime="slurm-tenant", model="m", reservation=reservation)


def files(home):
    return sorted((home / "cache").glob("*.sh"))


def test_a_miss_renders_and_stores_a_hit_reads_without_rendering(home, monkeypatch):
    spec = tenant()
    text = cache.artifact(spec, "status.sh")
    assert text == render_artifact(spec, "status.sh")
    (stored,) = files(home)
    assert oct(stored.stat().st_mode & 0o777) == "0o600" and oct((home / "cache").stat().st_mode & 0o777) == "0o700"

    def boom(*a):
        raise AssertionError("rendered although cached")
    monkeypatch.setattr("sacgen.compile.render.render_artifact", boom)
    assert cache.artifact(spec, "status.sh") == text


def test_every_field_of_the_spec_and_the_artifact_are_in_the_key(home):
    cache.artifact(tenant(), "status.sh")
    cache.artifact(tenant(name="t2"), "status.sh")
    cache.artifact(tenant(reservation="other"), "status.sh")
    cache.artifact(tenant(), "logs.sh")
    assert len(files(home)) == 4
    assert "t2" in cache.artifact(tenant(name="t2"), "status.sh")


def test_a_torn_or_edited_file_is_rendered_again(home):
    spec = tenant()
    text = cache.artifact(spec, "stop.sh")
    (stored,) = files(home)
    for bad in (b"", stored.read_bytes()[:100], stored.read_bytes().replace(b"tmux", b"tmuX")):
        stored.write_bytes(bad)
        assert cache.artifact(spec, "stop.sh") == text
        assert cache._read(stored) == text  # and stored right again


def test_a_changed_template_is_never_served_from_the_cache(home, monkeypatch):
    spec = tenant()
    cache.artifact(spec, "status.sh")
    paths.fingerprint.cache_clear()
    template = ROOT / "templates" / "agent-tenant" / "status.sh.jinja"
    st = template.stat()
    try:
        os.utime(template, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
        cache.artifact(spec, "status.sh")
        assert len(files(home)) == 2
    finally:
        os.utime(template, ns=(st.st_atime_ns, st.st_mtime_ns))
        paths.fingerprint.cache_clear()


def test_off_or_unwritable_it_still_renders(home, monkeypatch):
    spec = tenant()
    monkeypatch.setenv("SAC_CACHE", "0")
    assert cache.artifact(spec, "status.sh") == render_artifact(spec, "status.sh")
    assert not (home / "cache").exists()
    monkeypatch.delenv("SAC_CACHE")
    (home / "cache").write_text("not a folder")
    assert cache.artifact(spec, "status.sh") == render_artifact(spec, "status.sh")


def test_the_folder_stays_bounded(home, monkeypatch):
    monkeypatch.setattr(cache, "MAX_FILES", 10)
    for i in range(25):
        cache.artifact(tenant(name=f"t{i}"), "status.sh")
    assert len(list((home / "cache").iterdir())) <= 10


# ----------------------------------------------------------------------------- validated specs

def specs_stored(home):
    return sorted((home / "cache").glob("*.spec"))


def test_a_validated_spec_is_read_back_equal_and_without_validating(home, monkeypatch):
    from sacgen.compile.specs import load_specs

    for src in ("examples/every-field/every-field.yaml", "examples/dev-helper/dev-helper.yaml",
                "examples/dev-pool/dev-pool.yaml"):
        path = str(ROOT / src)
        (first,) = cached_load_specs([path])
        assert first == load_specs([path])[0]
        with monkeypatch.context() as m:
            m.setattr("sacgen.compile.specs.spec_of_bytes", lambda *a: pytest.fail("validated although cached"))
            m.setattr("sacgen.compile.specs._checked", lambda *a: pytest.fail("validated although cached"))
            (again,) = cached_load_specs([path])
        assert again == first and type(again) is type(first)
        assert all(type(v) is type(getattr(first, k)) for k, v in again._asdict().items())
    assert len(specs_stored(home)) == 3


def test_a_hit_loads_neither_yaml_nor_jsonschema(home):
    import subprocess
    import sys

    path = ROOT / "examples/dev-helper/dev-helper.yaml"
    code = ("import sys; from sacgen.run.cache import load_specs; s = load_specs([sys.argv[1]]); "
            "print(s[0].name, 'yaml' in sys.modules, 'jsonschema' in sys.modules)")
    env = dict(os.environ, SAC_HOME=str(home))
    out = [subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, env=env,
                          check=True).stdout.split() for _ in range(2)]
    # A miss loads the YAML; a valid file never needs jsonschema (sacgen.compile.schemacheck).
    assert out == [["dev-helper", "True", "False"], ["dev-helper", "False", "False"]]


def test_changed_bytes_are_validated_again_and_problems_are_never_stored(home, tmp_path):
    from sacgen.errors import SpecError

    path = tmp_path / "solo.yaml"
    good = (ROOT / "examples/dev-helper/dev-helper.yaml").read_text()
    path.write_text(good)
    assert cached_load_specs([str(path)])[0].model == "sonnet"
    path.write_text(good.replace("model: sonnet", "model: opus"))
    assert cached_load_specs([str(path)])[0].model == "opus"
    path.write_text(good.replace("model: sonnet", "model: [1]"))
    for _ in range(2):
        with pytest.raises(SpecError, match="spec.model"):
            cached_load_specs([str(path)])
    assert len(specs_stored(home)) == 2


def test_a_torn_spec_file_is_validated_again_and_the_cache_can_be_off(home, monkeypatch):

    path = ROOT / "examples/dev-helper/dev-helper.yaml"
    (want,) = cached_load_specs([str(path)])
    (stored,) = specs_stored(home)
    stored.write_bytes(stored.read_bytes()[:-5])
    assert cached_load_specs([str(path)]) == [want]
    stored.write_bytes(b"0" * 64 + b'\n["Agent", {"name": "forged"}]')
    assert cached_load_specs([str(path)]) == [want]
    monkeypatch.setenv("SAC_CACHE", "0")
    for f in specs_stored(home):
        f.unlink()
    assert cached_load_specs([str(path)]) == [want]
    assert specs_stored(home) == []


# ----------------------------------------------------------------------------- compiled templates

def test_compiled_templates_are_kept_per_sacgen_in_a_private_folder(home, monkeypatch):
    """A process that renders stores the compiled templates; the next loads them
    (Jinja's compiler is not called) and renders the same bytes. The folder is
    named by sacgen's fingerprint (older ones go), and is used only when it is
    this user's alone."""
    import subprocess
    import sys

    import jinja2

    folder = home / "cache" / f"jinja-{jinja2.__version__}-{paths.fingerprint()[:24]}"
    (home / "cache").mkdir(mode=0o700)
    (home / "cache" / "jinja-0ld").mkdir()
    code = ("import sys, jinja2; from sacgen.compile.specs import load_specs; from sacgen.compile.render import render\n"
            "compiled = []\n"
            "real = jinja2.Environment.compile\n"
            "jinja2.Environment.compile = lambda self, *a, **k: compiled.append(1) or real(self, *a, **k)\n"
            "text = ''.join(a.text for s in load_specs([sys.argv[1]]) for a in render(s))\n"
            "print(len(compiled)); sys.stdout.write(text)")
    env = dict(os.environ, SAC_HOME=str(home))
    runs = [subprocess.run([sys.executable, "-c", code, str(ROOT / "examples")], capture_output=True, text=True,
                           env=env, check=True).stdout.split("\n", 1) for _ in range(2)]
    assert int(runs[0][0]) > 10 and runs[1][0] == "0"
    assert runs[0][1] == runs[1][1] == "".join(a.text for s in EXAMPLES for a in render(s))
    assert folder.is_dir() and len(list(folder.iterdir())) > 10
    assert not (home / "cache" / "jinja-0ld").exists()
    assert isinstance(render_module._template_bytecode(), jinja2.FileSystemBytecodeCache)
    folder.chmod(0o777)
    assert render_module._template_bytecode() is None
    folder.chmod(0o700)
    monkeypatch.setenv("SAC_CACHE", "0")
    assert render_module._template_bytecode() is None


def test_a_cache_folder_others_can_write_to_is_not_used(home):
    """Its scripts would run on the cluster, its compiled templates here."""
    spec = tenant()
    want = render_artifact(spec, "status.sh")
    (home / "cache").mkdir(mode=0o700)
    (home / "cache").chmod(0o770)
    planted = []
    for _ in range(2):
        assert cache.artifact(spec, "status.sh") == want
        planted = list((home / "cache").iterdir())
    assert planted == [] and render_module._template_bytecode() is None
    (home / "cache").rmdir()
    (home / "cache").symlink_to(home.parent)
    assert cache.artifact(spec, "status.sh") == want and render_module._template_bytecode() is None
