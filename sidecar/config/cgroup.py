"""The container's memory limit, read from the cgroup the process runs in (v2 first, then v1).

Kubernetes writes a container's `resources.limits.memory` into its cgroup: `memory.max` under
cgroup v2 ("max" when unlimited), `memory.limit_in_bytes` under v1 (a huge number when unlimited).
The path comes from /proc/self/cgroup; inside a container with its own cgroup namespace that path
is "/", so the mount's root is the container's own cgroup.
"""

from __future__ import annotations

from pathlib import Path

UNLIMITED_V1 = 1 << 60  # v1 writes PAGE_COUNTER_MAX rounded to a page (≈ 9.2e18) for "no limit"


def memory_limit(
    root: str | Path = "/sys/fs/cgroup", proc_cgroup: str | Path = "/proc/self/cgroup"
) -> tuple[int | None, str]:
    """(limit in bytes or None, where it was read: "cgroup v2 <file>", "cgroup v1 <file>" or "none")."""
    root = Path(root)
    v2_path, v1_path = _own_paths(Path(proc_cgroup))
    for base in (root / "unified", root):
        for rel in (v2_path, "/"):
            if rel is None:
                continue
            candidate = base / rel.lstrip("/") / "memory.max"
            value = _read(candidate)
            if value is not None:
                return (None if value == "max" else _int(value)), f"cgroup v2 {candidate}"
    for rel in (v1_path, "/"):
        if rel is None:
            continue
        candidate = root / "memory" / rel.lstrip("/") / "memory.limit_in_bytes"
        value = _read(candidate)
        if value is not None:
            limit = _int(value)
            return (None if limit is None or limit >= UNLIMITED_V1 else limit), f"cgroup v1 {candidate}"
    return None, "none"


def _own_paths(proc_cgroup: Path) -> tuple[str | None, str | None]:
    """This process's cgroup v2 path ("0::/x") and v1 memory controller path ("4:memory:/x")."""
    v2 = v1 = None
    text = _read(proc_cgroup) or ""
    for line in text.splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        if parts[0] == "0" and parts[1] == "":
            v2 = parts[2]
        elif "memory" in parts[1].split(","):
            v1 = parts[2]
    return v2, v1


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except (OSError, UnicodeDecodeError):
        return None


def _int(text: str) -> int | None:
    try:
        value = int(text)
    except ValueError:
        return None
    return value if value > 0 else None
