"""What a finished RPC tells the decision log and its trace span: bounded labels read off the answer.

Only labels leave here — method, outcome, reason, source, the configured issuer, the ext_authz rule —
plus the subject, which the decision log hashes and the span never sees. Both sinks are off by
default; then `finished()` is one attribute check per call.
"""

from __future__ import annotations

import functools
from typing import Any

from sidecar.observability import tracing
from sidecar.observability.decision_log import DECISIONS

SELF_RECORDED = {"Check"}  # ext_authz records its decisions itself, with the rule


def on() -> bool:
    return DECISIONS.active or tracing.ENABLED


def finished(method: str, outcome: str, reason: str, response: Any, started: float) -> None:
    """An RPC answered (or failed with `outcome`): record it where recording is on."""
    if not (DECISIONS.active or tracing.ENABLED) or method in SELF_RECORDED:
        return
    if not DECISIONS.active and not tracing.recording():
        return  # tracing on, this call not sampled: nothing to label
    source, issuer, subject = _details(response)
    record(method, outcome, reason, started, source=source, issuer=issuer, subject=subject)


def record(
    method: str,
    outcome: str,
    reason: str,
    started: float,
    *,
    rule: str = "",
    source: str = "",
    issuer: str = "",
    subject: str = "",
    decision_id: str = "",
    dry_run: str = "",
) -> None:
    trace_id = ""
    if tracing.ENABLED:
        trace_id = tracing.annotate(
            outcome=outcome,
            reason=reason,
            source=source,
            issuer=issuer,
            rule=rule,
            decision_id=decision_id,
            dry_run=dry_run,
        )
    if DECISIONS.active:
        DECISIONS.record(
            method,
            outcome,
            reason,
            started,
            rule=rule,
            source=source,
            issuer=issuer,
            subject=subject,
            trace_id=trace_id,
            decision_id=decision_id,
            dry_run=dry_run,
        )


def check_decision(decision: Any, result: str, prefix: str, started: float, decision_id: str = "") -> None:
    """An ext_authz decision: the rule, its id, a dry run's would-be answer, and the issuer and subject
    a passing jwt check established. A dry-run denial logs its would-be reason."""
    headers = dict(decision.headers) if result == "allow" else {}
    reason = getattr(decision, "would_reason", "") or decision.reason
    record(
        "Check",
        result,
        reason,
        started,
        rule=decision.rule,
        issuer=headers.get(prefix + "issuer", ""),
        subject=headers.get(prefix + "subject", ""),
        decision_id=decision_id,
        dry_run=getattr(decision, "dry_run", ""),
    )


def _details(response: Any) -> tuple[str, str, str]:
    """(source label, issuer, subject) of an answer, "" for what it does not carry."""
    if response is None:
        return "", "", ""
    has_source, has_auth = _fields(response.DESCRIPTOR)
    source = ""
    if has_source:
        source = response.DESCRIPTOR.fields_by_name["source"].enum_type.values_by_number[response.source].name
        source = source.removeprefix("SOURCE_").lower().replace("unspecified", "")
    if has_auth and response.HasField("auth"):
        return source, response.auth.issuer, response.auth.subject
    return source, "", ""


@functools.cache  # one entry per response message type
def _fields(descriptor: Any) -> tuple[bool, bool]:
    source = descriptor.fields_by_name.get("source")
    auth = descriptor.fields_by_name.get("auth")
    return (
        source is not None and source.enum_type is not None,
        auth is not None and auth.message_type is not None and "issuer" in auth.message_type.fields_by_name,
    )
