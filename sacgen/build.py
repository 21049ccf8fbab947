"""Stage 4 (compile side): write rendered artifacts to OUT atomically, or compare
them with a golden folder."""

from __future__ import annotations

import difflib
import hashlib
import json
import os
import shutil
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from . import __version__
from .errors import OperationFailed, UsageError
from .render import render
from .spec import Spec

MANIFEST = "manifest.json"


def render_tree(specs: list[Spec]) -> dict[str, tuple[str, int]]:
    """{relative path: (text, mode)} for every artifact of every spec, plus the manifest."""
    files: dict[str, tuple[str, int]] = {}
    entries = []
    for spec in sorted(specs, key=lambda s: (s.name, s.kind)):
        for art in render(spec):
            rel = f"{spec.name}/{art.name}"
            if rel in files:
                raise UsageError(f"{spec.source}: {spec.kind.lower()} {spec.name!r} would overwrite {rel}; "
                                 "agents and reservations need distinct names in one build")
            files[rel] = (art.text, art.mode)
            entries.append({
                "path": rel,
                "sha256": hashlib.sha256(art.text.encode("utf-8")).hexdigest(),
                "mode": f"{art.mode:04o}",
                "kind": spec.kind,
                "name": spec.name,
                "spec": spec.source,
            })
    files[MANIFEST] = (_manifest_json(entries), 0o644)
    return files


def _manifest_json(entries: list[dict]) -> str:
    """json.dumps({"artifacts": entries, "generator": ...}, indent=2, sort_keys=True),
    byte for byte, with each flat entry encoded by the C encoder (json's indented
    encoder is pure Python, and slow for thousands of entries)."""
    items = []
    for entry in entries:
        items.append(",\n".join(f"      {json.dumps(k)}: {json.dumps(entry[k])}" for k in sorted(entry)))
    body = "    {\n" + "\n    },\n    {\n".join(items) + "\n    }" if items else ""
    artifacts = f"[\n{body}\n  ]" if items else "[]"
    return f'{{\n  "artifacts": {artifacts},\n  "generator": {json.dumps(f"sacgen {__version__}")}\n}}\n'


def write_tree(files: dict[str, tuple[str, int]], out: Path) -> None:
    """Write the whole tree to a temporary folder beside OUT, then swap it in: a
    failed or interrupted build leaves OUT as it was. OUT must be absent, empty, or an earlier
    build (has manifest.json): sacgen never replaces a folder it did not make."""
    out = Path(out)
    if out.exists():
        if not out.is_dir():
            raise UsageError(f"{out}: exists and is not a directory")
        if any(out.iterdir()) and not (out / MANIFEST).is_file():
            raise UsageError(f"{out}: not empty and not an earlier sacgen build (no {MANIFEST}); "
                             "refusing to replace it")
    parent = out.resolve().parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=parent))
    except OSError as e:
        raise OperationFailed(f"{out}: cannot write: {e.strerror or e}") from None
    try:
        for folder in sorted({(tmp / rel).parent for rel in files}):
            folder.mkdir(parents=True, exist_ok=True)
        # Creating thousands of files is the file system's work, not Python's:
        # a few threads keep it busy.
        with ThreadPoolExecutor(max_workers=4) as pool:
            for _ in pool.map(lambda item: _write_file(tmp / item[0], *item[1]), sorted(files.items())):
                pass
        os.chmod(tmp, 0o755)
        # Every file on disk before the swap, with one sync rather than one fsync
        # per file (thousands for a large build).
        os.sync()
        old = None
        if out.exists():
            old = parent / f".{out.name}.old-{os.getpid()}"
            os.rename(out, old)
        os.rename(tmp, out)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except OSError as e:
        shutil.rmtree(tmp, ignore_errors=True)
        raise OperationFailed(f"{out}: cannot write: {e.strerror or e}") from None


def _write_file(path: Path, text: str, mode: int) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with open(fd, "wb") as f:
        f.write(text.encode("utf-8"))
    os.chmod(path, mode)  # whatever the umask


def check_tree(files: dict[str, tuple[str, int]], golden: Path) -> str:
    """A unified diff between the rendered tree and GOLDEN ('' when identical)."""
    golden = Path(golden)
    if not golden.is_dir():
        raise UsageError(f"{golden}: no such directory to check against")
    on_disk = {p.relative_to(golden).as_posix() for p in golden.rglob("*") if p.is_file()}
    diff: list[str] = []
    for rel in sorted(set(files) | on_disk):
        want = files[rel][0].splitlines(keepends=True) if rel in files else []
        path = golden / rel
        have = path.read_text(encoding="utf-8").splitlines(keepends=True) if rel in on_disk else []
        if want != have or (rel in files) != (rel in on_disk):
            diff.extend(difflib.unified_diff(have, want, f"{golden.as_posix()}/{rel}", f"(built)/{rel}"))
            if rel not in files or rel not in on_disk:
                side = "only in the build" if rel in files else f"only in {golden.as_posix()}"
                diff.append(f"{rel}: {side}\n")
            if diff and not diff[-1].endswith("\n"):
                diff[-1] += "\n"
        elif rel in files and rel in on_disk and (path.stat().st_mode & 0o777) != files[rel][1]:
            diff.append(f"mode of {golden.as_posix()}/{rel}: {path.stat().st_mode & 0o777:04o}, built {files[rel][1]:04o}\n")
    return "".join(diff)
