"""What the chaos tests share: polling, the platform's control calls, and a verifier that keeps asking.

Everything runs against real processes on loopback (see tests/conftest.py and harness/processes.py).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from authsidecar.v1 import auth_pb2 as pb
from harness.processes import wait_until  # noqa: F401  (the chaos tests import it from here)

PHONE = "+14155552671"
STATUS_ROUTE = "POST /v2/backend/session/status"
EVENTS_ROUTE = "GET /v2/backend/events"
# A quick stream: reconnects within half a second; the emulator sends heartbeats every second.
FAST_SSE = {
    "platform": {"sse": {"heartbeat_timeout_seconds": 3.0, "reconnect_min_seconds": 0.05, "reconnect_max_seconds": 0.5}}
}


def control(emulator, path: str, **body) -> dict:
    resp = emulator.http.post(f"/_control/platform/{path}", json=body)
    resp.raise_for_status()
    return resp.json()


def new_session(emulator, phone: str = PHONE) -> str:
    return control(emulator, "sessions", phone=phone)["session_token"]


def status_calls(emulator) -> int:
    return emulator.counters().get(STATUS_ROUTE, 0)


def verify(sc, token: str, timeout: float = 5) -> pb.VerifySessionResponse:
    return sc.stub.VerifySession(pb.VerifySessionRequest(session_token=token, phone=PHONE), timeout=timeout)


def stream_connected(sc) -> bool:
    return sc.metric("authsidecar_sse_connected") == 1


@dataclass(frozen=True)
class Answer:
    started: float  # time.monotonic() when the call was sent
    valid: bool
    reason: int


class Asker:
    """Asks VerifySession for one token in a loop on a thread, keeping every answer with its start time,
    so a test can check "no call sent after the revocation was answered valid" over a whole fault."""

    def __init__(self, sc, token: str) -> None:
        self.sc, self.token = sc, token
        self.answers: list[Answer] = []
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Asker:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(10)

    def _run(self) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                reply = verify(self.sc, self.token)
            except Exception as exc:  # an RPC error is recorded, never mistaken for an answer
                self.errors.append(type(exc).__name__)
            else:
                self.answers.append(Answer(started, reply.valid, reply.reason))
            time.sleep(0.005)

    def valid_after(self, moment: float) -> list[Answer]:
        return [a for a in self.answers if a.started >= moment and a.valid]
