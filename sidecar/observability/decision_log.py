"""The decision log: one JSON line per auth decision, for audits and incident review (as OPA's).

A line: time, method (and the ext_authz rule), outcome, reason, source, issuer, a SHA-256 prefix of
the subject, latency and the trace id. Never a token, phone, session id or raw subject: callers hand
in only bounded labels, the issuer from config and the subject, which is hashed here.

Sampled (`sample_ratio`) and rate-limited (`max_per_second`, a token bucket): what the limit drops
is counted (authsidecar_decision_log_dropped_total) and reported in a `decisions_dropped` line at
most once a second. Off (the default) it costs the caller one attribute check.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import random
import sys
import time
from datetime import UTC, datetime
from typing import Any, TextIO

from sidecar.config import DecisionLogSettings
from sidecar.observability import logs, metrics

log = logs.get("decision_log")

SUBJECT_HASH_CHARS = 16
DROP_REPORT_SECONDS = 1.0


def subject_hash(subject: str) -> str:
    """The first 16 hex digits of the subject's SHA-256: correlates lines, does not name the user."""
    return hashlib.sha256(subject.encode("utf-8", "surrogatepass")).hexdigest()[:SUBJECT_HASH_CHARS] if subject else ""


def _now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class DecisionLog:
    def __init__(self) -> None:
        self.active = False  # the callers' one check on the hot path
        self._settings = DecisionLogSettings()
        self._out: TextIO = sys.stderr
        self._path = ""
        self._tokens = 0.0
        self._refilled = time.monotonic()
        self._dropped = 0  # dropped since the last `decisions_dropped` line
        self._report: asyncio.TimerHandle | None = None

    def configure(self, settings: DecisionLogSettings) -> None:
        """Take new settings (at start and on live reload); reopens the file when the path changed."""
        path = settings.path if settings.enabled else ""
        if path != self._path:
            self._close_file()
            if path:
                try:
                    self._out = open(path, "a", buffering=1, encoding="utf-8")  # noqa: SIM115 (held until closed or reopened)
                except OSError as exc:
                    log.error(
                        "cannot open the decision log; writing to stderr", extra={"path": path, "error": exc.strerror}
                    )
                    self._out, path = sys.stderr, ""
            self._path = path
        self._settings = settings
        self._tokens = min(self._tokens, self._burst) if self.active else self._burst
        self.active = settings.enabled

    @property
    def _burst(self) -> float:
        return max(1.0, self._settings.max_per_second)

    def record(
        self,
        method: str,
        outcome: str,
        reason: str,
        started: float,
        *,
        rule: str = "",
        source: str = "",
        issuer: str = "",
        subject: str = "",
        trace_id: str = "",
        decision_id: str = "",
        dry_run: str = "",
    ) -> None:
        """Write one decision (if sampled and within the rate). `started` is a perf_counter() time."""
        if self._settings.sample_ratio < 1.0 and random.random() >= self._settings.sample_ratio:
            return
        if not self._take():
            self._dropped += 1
            metrics.DECISION_LOG_DROPPED_TOTAL.labels("rate_limit").inc()
            self._schedule_report()
            return
        entry: dict[str, Any] = {"log": "decision", "time": _now_iso(), "method": method}
        if decision_id:
            entry["decision_id"] = decision_id
        if rule:
            entry["rule"] = rule
        if dry_run:
            entry["dry_run"] = dry_run  # the would-be answer; `outcome` is what was done
        entry.update(
            outcome=outcome,
            reason=reason,
            source=source,
            issuer=issuer,
            subject_sha256=subject_hash(subject),
            latency_ms=round((time.perf_counter() - started) * 1000, 3),
            trace_id=trace_id,
        )
        if self._write(entry):
            metrics.DECISION_LOG_LINES_TOTAL.inc()
        else:
            metrics.DECISION_LOG_DROPPED_TOTAL.labels("error").inc()

    def _take(self) -> bool:
        now = time.monotonic()
        self._tokens = min(self._burst, self._tokens + (now - self._refilled) * self._settings.max_per_second)
        self._refilled = now
        if self._tokens < 1.0:
            return False
        self._tokens -= 1.0
        return True

    def _schedule_report(self) -> None:
        if self._report is not None:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        self._report = loop.call_later(DROP_REPORT_SECONDS, self.report_dropped)

    def report_dropped(self) -> None:
        """The periodic `decisions_dropped` line: how many decisions the rate limit left out."""
        self._report = None
        if self._dropped:
            self._write(
                {
                    "log": "decision",
                    "time": _now_iso(),
                    "decisions_dropped": self._dropped,
                    "max_per_second": self._settings.max_per_second,
                }
            )
            self._dropped = 0

    def _write(self, entry: dict) -> bool:
        try:
            self._out.write(json.dumps(entry, separators=(",", ":")) + "\n")
            if self._out is sys.stderr:
                self._out.flush()
            return True
        except (OSError, ValueError):  # disk full, closed stream: the decision stands, the line is lost
            return False

    def _close_file(self) -> None:
        if self._out is not sys.stderr:
            with contextlib.suppress(OSError):
                self._out.close()
        self._out = sys.stderr


DECISIONS = DecisionLog()  # one per process, configured by the server
