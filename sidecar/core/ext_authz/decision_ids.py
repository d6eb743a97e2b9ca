"""Decision ids: one opaque id per ext_authz answer, quoted by the client (on a denial), the app (on
an allowed request), Envoy's access log, the decision log line and the Check span alike.

Random, not derived from the request: nothing about the caller can be read back from it, and a
client cannot choose it (a forged header of the same name is overwritten on the way to the app).
"""

from __future__ import annotations

import os

DECISION_ID_HEADER = "x-authsidecar-decision-id"


ID_BATCH = 64  # ids drawn from the OS at once: one getrandom() per 64 Checks, not one each

_batch: list[str] = []


def new_decision_id() -> str:
    """128 random bits as 32 hex digits (as W3C trace ids are written), each id used once."""
    if not _batch:
        digits = os.urandom(16 * ID_BATCH).hex()
        _batch.extend(digits[i : i + 32] for i in range(0, len(digits), 32))
    return _batch.pop()


# A forked child must not hand out the ids its parent still holds.
os.register_at_fork(after_in_child=_batch.clear)
