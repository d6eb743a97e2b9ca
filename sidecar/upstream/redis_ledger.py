"""The fleet's one-time ledger on Redis: one `SET key 1 NX PX ttl` per claim (core/onetime/ledger.py decides).

redis-py's asyncio client; TLS and AUTH come through the URL (`rediss://`, `user:password@`), or the
password from `ledger.password` (AUTHSIDECAR_LEDGER_PASSWORD or its _FILE) when the URL has none.
Every command is bounded by `ledger.timeout_seconds` as a whole — connecting included — and is never
retried here: a lost answer is "unavailable" (fail closed), and the next claim asks again.
"""

from __future__ import annotations

import asyncio
import time
from urllib.parse import urlsplit

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from sidecar.core.shared.outcomes import UpstreamError
from sidecar.observability import metrics

MAX_CONNECTIONS = 64  # racing claims beyond this wait (within the timeout) for a free connection


def describe(url: str) -> str:
    """scheme://host:port/db of a Redis URL — never its credentials."""
    parts = urlsplit(url)
    if parts.scheme == "unix":
        return f"unix://{parts.path}"
    return f"{parts.scheme}://{parts.hostname or 'localhost'}:{parts.port or 6379}{parts.path or '/0'}"


class RedisLedgerStore:
    """A LedgerStore (core/onetime/ledger.py) over one Redis (or a proxy/Sentinel-resolved primary)."""

    def __init__(self, url: str, password: str = "", timeout_seconds: float = 0.5) -> None:
        self.where = describe(url)
        self.timeout = timeout_seconds
        options: dict = {
            "socket_timeout": timeout_seconds,
            "socket_connect_timeout": timeout_seconds,
            "retry": Retry(NoBackoff(), 0),
            "max_connections": MAX_CONNECTIONS,
            "timeout": timeout_seconds,
        }
        if password:
            options["password"] = password  # a password in the URL wins (redis-py merges URL options last)
        pool = aioredis.BlockingConnectionPool.from_url(url, **options)
        self._redis = aioredis.Redis(connection_pool=pool, retry=Retry(NoBackoff(), 0))

    async def set_if_absent(self, key: str, ttl_ms: int) -> bool:
        return bool(await self._command("set", self._redis.set(key, b"1", nx=True, px=ttl_ms)))

    # -- the fleet's logout revocations (core/accounts/logout_revocations.py): one stream, appended and tailed --
    async def revocation_append(self, key: str, items: list[tuple[str, int]], min_id_ms: int) -> None:
        async def append() -> None:
            async with self._redis.pipeline(transaction=True) as pipe:
                for revocation_id, expires_ms in items:
                    pipe.xadd(
                        key,
                        {"id": revocation_id, "exp": str(expires_ms)},
                        minid=str(max(min_id_ms, 0)),
                        approximate=True,
                    )
                await pipe.execute()

        await self._command("xadd", append())

    async def revocation_read(self, key: str, after: str, count: int) -> tuple[list[tuple[str, int]], str]:
        """Entries after stream id `after` (never blocking: the caller polls); the last id read."""
        answer = await self._command("xread", self._redis.xread({key: after}, count=count))
        items: list[tuple[str, int]] = []
        for _, entries in answer or []:
            for entry_id, fields in entries:
                after = entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)
                try:
                    items.append((fields[b"id"].decode(), int(fields[b"exp"])))
                except (KeyError, ValueError, UnicodeDecodeError):
                    continue  # not one of ours: skipped, never a crash of the tail
        return items, after

    async def ping(self) -> None:
        await self._command("ping", self._redis.ping())

    async def aclose(self) -> None:
        await self._redis.aclose()

    async def _command(self, command: str, call):
        started = time.perf_counter()
        result = "error"
        try:
            async with asyncio.timeout(self.timeout):
                answer = await call
            result = "ok"
            return answer
        except TimeoutError:
            result = "timeout"
            raise UpstreamError("ledger", 0, f"ledger unavailable: {command} timed out") from None
        except (RedisError, OSError, ValueError) as exc:  # ValueError: a reply or URL option it can't read
            # The exception's text can name the host or echo a command; its type is enough.
            raise UpstreamError("ledger", 0, f"ledger unavailable: {command} failed: {type(exc).__name__}") from None
        finally:
            metrics.child(metrics.LEDGER_SECONDS, command, result).observe(time.perf_counter() - started)
