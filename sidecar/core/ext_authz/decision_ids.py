"""Decision ids: one opaque id per ext_authz answer, quoted by the client (on a denial), the app (on
an allowed request), Envoy's access log, the decision log line and the Check span alike.

Random, not derived from the request: nothing about the caller can be read back from it, and a
client cannot choose it (a forged header of the same name is overwritten on the way to the app).
"""

from __future__ import annotations

import os

DECISION_ID_HEADER = "x-authsidecar-decision-id"


def new_decision_id() -> str:
    """128 random bits as 32 hex digits (as W3C trace ids are written)."""
    return os.urandom(16).hex()
