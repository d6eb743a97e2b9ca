"""An answer an adapter can't read is a bad answer — failed closed like an outage, never a crash.

An upstream can answer anything: wrong types, missing fields, NaN, numbers past every range,
nesting that breaks the JSON parser, text that is not UTF-8. `@reads_answers(UPSTREAM)` on an
adapter class wraps each public coroutine method: what it raises while reading an answer
(TypeError, ValueError, …, or an UpstreamError of its own for a 2xx it refused), and a record it
returns that no gRPC answer could carry (a lone
surrogate, a non-finite float, an int past int64, nesting past MAX_DEPTH) become
UpstreamError(upstream, 502, "bad answer …"), counted in authsidecar_upstream_bad_answers_total and
logged without the body. Callers then fail closed (a 502 is "unavailable"), and the circuit counts it.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import math
from collections.abc import Awaitable, Callable
from enum import Enum
from typing import Any, TypeVar

from sidecar.core.shared.outcomes import InvalidArgument, UpstreamError
from sidecar.core.shared.text import is_utf8
from sidecar.observability import logs, metrics

log = logs.get("upstream.guard")

BAD_ANSWER_STATUS = 502
MAX_DEPTH = 16
INT64 = 2**63
# What reading a JSON answer that is not the expected shape raises (and json's own errors).
READ_ERRORS = (TypeError, ValueError, AttributeError, KeyError, IndexError, OverflowError, RecursionError)

T = TypeVar("T")


def bad_answer(upstream: str, endpoint: str, problem: str, status: int = BAD_ANSWER_STATUS) -> UpstreamError:
    """The UpstreamError for an answer we can't use; counted and logged (the problem, never the body)."""
    metrics.UPSTREAM_BAD_ANSWERS_TOTAL.labels(upstream, endpoint).inc()
    log.warning("upstream answer unreadable", extra={"upstream": upstream, "endpoint": endpoint, "problem": problem})
    return UpstreamError(upstream, status, f"{endpoint}: bad answer ({problem})")


def reads_answers(upstream: str) -> Callable[[type[T]], type[T]]:
    """Class decorator: guard every public `async def` of an adapter (the method name is the endpoint label)."""

    def decorate(cls: type[T]) -> type[T]:
        for name, fn in list(vars(cls).items()):
            if not name.startswith("_") and inspect.iscoroutinefunction(fn):
                setattr(cls, name, _guarded(upstream, name, fn))
        return cls

    return decorate


def _guarded(upstream: str, endpoint: str, fn: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
    @functools.wraps(fn)
    async def call(*args: Any, **kwargs: Any) -> Any:
        try:
            result = await fn(*args, **kwargs)
        except UpstreamError as exc:
            if 200 <= exc.status < 300:  # the adapter refused a success it could not read ("not JSON", …)
                raise bad_answer(upstream, endpoint, exc.message) from None
            raise
        except InvalidArgument:
            raise  # a ValueError too, but about the caller's input: never an upstream's fault
        except READ_ERRORS as exc:
            raise bad_answer(upstream, endpoint, type(exc).__name__) from None
        problem = unsendable(result)
        if problem:
            raise bad_answer(upstream, endpoint, problem)
        return result

    return call


def unsendable(value: Any, depth: int = 0) -> str:
    """Why a gRPC answer could not carry this record ("" when it can)."""
    if value is None or isinstance(value, (bool, bytes, Enum)):
        return ""
    if isinstance(value, str):
        return "" if is_utf8(value) else "text that is not UTF-8"
    if isinstance(value, int):
        return "" if -INT64 <= value < INT64 else "an integer out of range"
    if isinstance(value, float):
        return "" if math.isfinite(value) else "a number that is not finite"
    if depth >= MAX_DEPTH:
        return "nested too deep"
    if dataclasses.is_dataclass(value):
        items: Any = (getattr(value, f.name) for f in dataclasses.fields(value))
    elif isinstance(value, dict):
        items = (x for pair in value.items() for x in pair)
    elif isinstance(value, (list, tuple, set, frozenset)):
        items = value
    else:
        return ""
    return next((p for p in (unsendable(v, depth + 1) for v in items) if p), "")
