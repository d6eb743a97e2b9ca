"""Live configuration reload: on SIGHUP, and when the config file's content changes.

The file is polled by content hash every `config_poll_seconds`, read through its path each time: a
Kubernetes ConfigMap volume updates by swapping the `..data` symlink, which changes neither the
path nor (for the link) its mtime, and file-watch APIs lose track of the swapped-out file; a fresh
read through the path always sees the file the link points at now.

The file is read as if an attacker wrote it (sidecar/config/reading.py: a regular file only, capped,
alias expansion bounded), and read, parsed and validated in a worker thread, so a hostile file never
stalls the calls being served. A new config is loaded and validated exactly as at start. With errors
it is refused (every bad field logged) and the running one keeps serving; any other failure is logged
and counted too, and the reload task goes on. Otherwise the settings that can change live are handed
to the server's `apply` in one synchronous step (no call sees half of it); the others — listeners,
TLS files, upstream URLs and credentials — are named in the log and keep their running values.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sidecar import config
from sidecar.config import Settings
from sidecar.config.reading import read_config_bytes
from sidecar.config.settings import live_paths
from sidecar.observability import logs, metrics

log = logs.get("reload")


# Which settings take effect live is declared on the fields themselves (config/settings.py `live`,
# `budgeted`, `restart_only`); a path takes the declaration of its closest declared parent, else restart.
LIVE = live_paths()


def is_live(path: str) -> bool:
    parts = path.split(".")
    for n in range(len(parts), 0, -1):
        declared = LIVE.get(".".join(parts[:n]))
        if declared is not None:
            return declared
    return False


def leaves(obj: Any, prefix: str = "") -> dict[str, Any]:
    """path → value for every setting; lists (issuers, rules) are one value each."""
    if not dataclasses.is_dataclass(obj):
        return {prefix: obj}
    out: dict[str, Any] = {}
    for f in dataclasses.fields(obj):
        out.update(leaves(getattr(obj, f.name), f"{prefix}.{f.name}" if prefix else f.name))
    return out


def changed_paths(old: Settings, new: Settings) -> list[str]:
    a, b = leaves(old), leaves(new)
    return sorted(p for p in a.keys() | b.keys() if a.get(p) != b.get(p))


def _with(obj: Any, path: list[str], value: Any) -> Any:
    head, *rest = path
    return dataclasses.replace(obj, **{head: _with(getattr(obj, head), rest, value) if rest else value})


def split_changes(running: Settings, new: Settings) -> tuple[Settings, list[str]]:
    """(new with every restart-only change reverted to its running value, the paths reverted)."""
    old = leaves(running)
    kept = [p for p in changed_paths(running, new) if not is_live(p)]
    applied = new
    for path in kept:
        applied = _with(applied, path.split("."), old[path])
    return applied, kept


def read_snapshot(path: str | Path) -> tuple[str, bytes | None, config.ConfigError | None]:
    """(digest, the file's bytes, None) or (digest of the problem, None, the ConfigError).

    Blocking: run off the event loop. Read as reading.py reads at start (a regular file only, capped),
    so a FIFO or /dev/zero at the path is a refusal, never a hang or a 1.5 GB read. A problem has a
    digest of its own, so the same problem is logged once, not every poll.
    """
    try:
        data = read_config_bytes(path)
    except config.ConfigError as exc:
        return "problem:" + hashlib.sha256(str(exc).encode()).hexdigest(), None, exc
    return hashlib.sha256(data).hexdigest(), data, None


class ConfigReloader:
    """Watches one config file and applies what changed to the running server."""

    def __init__(
        self,
        path: str | Path,
        running: Settings,
        apply: Callable[[Settings], None],
        adjust: Callable[[Settings], Settings] = lambda s: s,
    ) -> None:
        self.path = str(path)
        self.running = running
        self._apply = apply  # the server's: hand the settings to every component (sync, no await)
        self._adjust = adjust  # what start did to loaded settings (the embedded emulator's URLs)
        digest, data, _ = read_snapshot(self.path)  # bounded and non-blocking, like every read here
        self._seen = digest  # the content of the last attempt, applied or refused
        self._wake = asyncio.Event()
        self._forced = False
        metrics.CONFIG_INFO.info({"sha256": digest[:16] if data is not None else ""})

    def request(self) -> None:
        """SIGHUP: reload now, even if the content looks unchanged."""
        self._forced = True
        self._wake.set()

    async def run(self) -> None:
        while True:
            interval = self.running.config_poll_seconds
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), interval if interval > 0 else None)
            self._wake.clear()
            forced, self._forced = self._forced, False
            try:
                await self.check(forced)
            except Exception:  # never the end of reloading: the next change (or SIGHUP) is tried again
                metrics.CONFIG_RELOADS_TOTAL.labels("error").inc()
                log.exception("configuration reload failed; the running configuration stays", extra={"path": self.path})

    async def check(self, forced: bool = False) -> bool | None:
        """Read the file (off the loop); reload if forced or its content changed. None: nothing to do."""
        digest, data, problem = await asyncio.to_thread(read_snapshot, self.path)
        if not forced and digest == self._seen:
            return None
        self._seen = digest
        return await self.reload("signal" if forced else "file changed", digest, data, problem)

    async def reload(
        self, why: str, digest: str, data: bytes | None, problem: config.ConfigError | None = None
    ) -> bool:
        where = {"why": why, "path": self.path, "resolved": os.path.realpath(self.path)}
        try:
            if problem is not None:
                raise problem
            # Parse and validate off the event loop: even a bounded parse takes a while in pure Python.
            new = await asyncio.to_thread(lambda: self._adjust(config.load(self.path, data=data)))
        except config.ConfigError as exc:
            metrics.CONFIG_RELOADS_TOTAL.labels("error").inc()
            log.error(
                "invalid configuration: %s; the running configuration stays",
                exc,
                extra={**where, "error": str(exc), "problems": len(exc.problems)},
            )
            return False
        applied, kept = split_changes(self.running, new)
        if kept:
            log.warning(
                "settings that need a restart were left as they are: %s",
                ", ".join(kept),
                extra={**where, "restart_needed": ", ".join(kept)},
            )
        changed = changed_paths(self.running, applied)
        try:
            self._apply(applied)  # all or nothing: the server rolls back a step that failed
        except Exception:  # a component that could not take it: say so, keep serving what runs
            metrics.CONFIG_RELOADS_TOTAL.labels("error").inc()
            log.exception("configuration could not be applied; the running configuration stays", extra=where)
            return False
        self.running = applied
        metrics.CONFIG_RELOADS_TOTAL.labels("ok").inc()
        metrics.CONFIG_INFO.info({"sha256": digest[:16]})
        log.info(
            "configuration reloaded", extra={**where, "sha256": digest[:16], "changed": ", ".join(changed) or "nothing"}
        )
        return True
