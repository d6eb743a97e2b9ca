"""Node projects the tests need, installed with npm once into an ignored folder under .run/ and reused.

The folder is reinstalled only when package.json changes (a stamp keeps the one installed). A file
lock makes parallel pytest workers (xdist) wait for one install instead of running npm twice into the
same folder.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from pathlib import Path

from filelock import FileLock

ROOT = Path(__file__).resolve().parents[1]
RUN = ROOT / ".run"  # ignored by git
NODE_PACKAGE = ROOT / "clients" / "node"


def packed_node_package() -> Path:
    """`npm pack` of clients/node, named by a digest of its files: a changed package is packed again
    (and a project depending on the tarball reinstalled, as its package.json names it)."""
    digest = hashlib.sha256()
    for path in sorted(p for p in NODE_PACKAGE.rglob("*") if p.is_file() and "node_modules" not in p.parts):
        digest.update(str(path.relative_to(NODE_PACKAGE)).encode() + b"\0" + path.read_bytes())
    packs = RUN / "node-package-tarballs"
    packs.mkdir(parents=True, exist_ok=True)
    tarball = packs / f"authsidecar-client-{digest.hexdigest()[:12]}.tgz"
    with FileLock(str(tarball) + ".lock", timeout=180):
        if not tarball.exists():
            npm = shutil.which("npm")
            assert npm, "npm is not on PATH"
            done = subprocess.run(
                [npm, "pack", "--silent", "--pack-destination", str(packs)],
                cwd=NODE_PACKAGE,
                capture_output=True,
                text=True,
                timeout=120,
            )
            assert done.returncode == 0, done.stderr[-2000:]
            (packs / done.stdout.strip().splitlines()[-1]).rename(tarball)
    return tarball


def npm_install(source: Path, where: Path, timeout: float, ignore: tuple[str, ...] = ()) -> Path:
    """`where` holding a copy of `source` (less `ignore` patterns) with its node_modules installed.
    Callers skip first when node/npm are missing; a failed install is an AssertionError."""
    npm = shutil.which("npm")
    assert npm, "npm is not on PATH"
    wanted = (source / "package.json").read_text()
    stamp = where / ".installed-package.json"
    where.parent.mkdir(parents=True, exist_ok=True)
    # Bounded: a worker that waits longer than an install may take fails rather than hangs.
    with FileLock(str(where) + ".lock", timeout=timeout + 60):
        if stamp.exists() and stamp.read_text() == wanted and (where / "node_modules").is_dir():
            return where
        if where.exists():
            shutil.rmtree(where)
        shutil.copytree(source, where, ignore=shutil.ignore_patterns("node_modules", *ignore))
        done = subprocess.run(
            [npm, "install", "--no-audit", "--no-fund", "--loglevel=error"],
            cwd=where,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        assert done.returncode == 0, f"npm install in {where.relative_to(ROOT)} failed:\n{done.stderr[-3000:]}"
        stamp.write_text(wanted)
    return where
