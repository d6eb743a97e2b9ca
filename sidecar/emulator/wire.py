"""What every vendor API in the emulator asks of a POST body before its own rules: sent as
application/json, parsed to a JSON object, and (when the area lists them) only known fields.
Each area answers `Refused` in its own vendor's error shape."""

from __future__ import annotations

import json

from starlette.requests import Request


class Refused(Exception):
    """A request body no client sends; the text says why."""


async def json_object(request: Request, allowed: set[str] | None = None, *, empty_is_object: bool = False) -> dict:
    """The body as a dict, or Refused. `empty_is_object`: an empty body reads as `{}` (Authy's SDK
    sends none on some POSTs)."""
    if request.headers.get("content-type", "").split(";")[0].strip().lower() != "application/json":
        raise Refused("the body must be application/json")
    raw = await request.body()
    try:
        body = json.loads(raw or b"{}") if empty_is_object else json.loads(raw)
    except ValueError:
        raise Refused("the body is not valid JSON") from None
    if not isinstance(body, dict):
        raise Refused("the body must be a JSON object")
    unknown = sorted(set(body) - allowed) if allowed is not None else []
    if unknown:
        raise Refused(f"unknown field(s): {', '.join(unknown)}")
    return body
