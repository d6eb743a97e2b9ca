"""A small JSON-over-HTTP client shared by the second-factor and identity adapters.

Sent through upstream/transport.py (metrics; no answer → UpstreamError(status 0)); a success whose body
is not JSON is UpstreamError(that 2xx status), which the adapters' guard reports as a bad answer.
Each adapter maps its vendor's error bodies in its own `_error` function. Endpoint labels are path
templates — never URLs, which may hold ids or codes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from sidecar.core.shared.outcomes import UpstreamError
from sidecar.upstream import transport as http

MAX_ERROR_BODY_CHARS = 2048


@dataclass(frozen=True, slots=True)
class Reply:
    status: int
    data: Any  # the parsed JSON body ({} when empty or not JSON)
    text: str  # the raw body, cut to MAX_ERROR_BODY_CHARS (for error details)

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


class JsonHttp:
    def __init__(
        self,
        upstream: str,
        base_url: str,
        headers: dict[str, str],
        timeout: float,
        transport: httpx.AsyncBaseTransport | None = None,
        max_response_bytes: int = http.DEFAULT_MAX_RESPONSE_BYTES,
    ) -> None:
        self.upstream = upstream
        self._client = http.client(
            base_url.rstrip("/"),
            headers=headers,
            timeout=timeout,
            max_response_bytes=max_response_bytes,
            transport=transport,
        )

    async def request(self, method: str, path: str, endpoint: str, **kwargs: Any) -> Reply:
        """Send one request; `endpoint` is the bounded label (the path template)."""
        response = await http.request(self._client, self.upstream, endpoint, method, path, **kwargs)
        try:
            data = response.json() if response.content else {}
        except ValueError:
            if response.is_success:
                raise UpstreamError(
                    self.upstream,
                    response.status_code,  # a bad answer (upstream/guard.py)
                    f"{endpoint} answered a body that is not JSON",
                ) from None
            data = {}
        return Reply(response.status_code, data, response.text[:MAX_ERROR_BODY_CHARS])

    async def aclose(self) -> None:
        await self._client.aclose()
