"""Callback signatures against authy-client@1.1.4's own verifyCallback, on many generated bodies.

Each body is signed twice: by the sidecar's core (core/factors/callbacks.py, what VerifyCallbackSignature checks
against) and by the emulator's independent signer (emulator/authy_signing.py). The SDK must accept both
and refuse a tampered copy; our localeCompare order must equal Node's on tricky keys.
"""

from __future__ import annotations

import json
import random

import pytest

from sidecar.core.factors.callbacks import sign
from sidecar.core.factors.collation import sort_key
from sidecar.emulator.authy_signing import signature as emulator_signature
from tests.contract.conftest import run_node

KEY = "1DS9YIwGquvvIdx8GdcdqZGLAewZZyhd"
NONCE = "1455825429"
ALPHABET = "aAbBzZ09 _-.~!*'()[]{}@/:;,é É ñ中+&=%"
BODIES = 60


def text(rng: random.Random, most: int = 8) -> str:
    return "".join(rng.choice(ALPHABET) for _ in range(rng.randint(1, most)))


def value(rng: random.Random, depth: int):
    kind = rng.choice(
        ["str", "str", "int", "float", "bool", "null", "dict", "list"] if depth < 3 else ["str", "int", "bool", "null"]
    )
    if kind == "dict":
        return {text(rng).replace("[", "(").replace("]", ")"): value(rng, depth + 1) for _ in range(rng.randint(1, 4))}
    if kind == "list":
        return [value(rng, depth + 1) for _ in range(rng.randint(1, 13))]
    return {
        "str": lambda: text(rng, 12),
        "int": lambda: rng.randint(-(10**6), 10**12),
        "float": lambda: rng.choice([0.5, 1.25, 3.0, 1e-7, 0.00001, 123.456, 1e21, 1.5e300, 2**60]),
        "bool": lambda: rng.random() < 0.5,
        "null": lambda: None,
    }[kind]()


def random_object(rng: random.Random) -> dict:
    # Keys never hold brackets: the app's body parser would read them as nesting, not as names.
    return {text(rng).replace("[", "(").replace("]", ")"): value(rng, 0) for _ in range(rng.randint(1, 6))}


def bodies() -> list[dict]:
    """OneTouch callbacks (the fields verifyCallback requires) around generated content."""
    rng = random.Random(1455825429)
    return [
        {
            **random_object(rng),
            "approval_request": random_object(rng),
            "authy_id": rng.randint(1, 10**7),
            "callback_action": "approval_request_status",
            "device_uuid": text(rng),
            "signature": text(rng),
            "status": rng.choice(["approved", "denied"]),
            "uuid": text(rng),
        }
        for _ in range(BODIES)
    ]


@pytest.fixture(scope="module")
def sdk_verdicts(node_project, tmp_path_factory):
    url = "https://App.Example.com/authy/callback?x=1"
    generated = bodies()
    callbacks = []
    for body in generated:
        callbacks.append({"body": body, "url": url, "nonce": NONCE, "signature": sign(KEY, NONCE, "POST", url, body)})
        callbacks.append(
            {"body": body, "url": url, "nonce": NONCE, "signature": emulator_signature(KEY, NONCE, "POST", url, body)}
        )
        tampered = {**body, "extra": "1"}
        callbacks.append(
            {"body": tampered, "url": url, "nonce": NONCE, "signature": sign(KEY, NONCE, "POST", url, body)}
        )
    keys = sorted(
        {k for body in generated for k in [*body, *body["approval_request"]]}
        | {"a", "A", "a_", "a-b", "ab", "aB", "Ab", "é", "e", "E", "f", "10", "2", "a b", "a+b", "~", "$", "中"}
    )
    path = tmp_path_factory.mktemp("authy-callbacks") / "input.json"
    path.write_text(json.dumps({"key": KEY, "callbacks": callbacks, "keys": keys}))
    out = run_node(node_project("authy"), "callbacks.js", str(path))
    assert "crashed" not in out, out.get("crashed")
    return out, keys


def test_the_sdk_accepts_every_body_the_sidecar_core_signs(sdk_verdicts):
    accepted = sdk_verdicts[0]["accepted"]
    core = accepted[0::3]
    assert core == [True] * BODIES, [i for i, ok in enumerate(core) if not ok]


def test_the_sdk_accepts_every_body_the_emulator_signs(sdk_verdicts):
    emulator = sdk_verdicts[0]["accepted"][1::3]
    assert emulator == [True] * BODIES, [i for i, ok in enumerate(emulator) if not ok]


def test_the_sdk_refuses_every_tampered_body(sdk_verdicts):
    assert sdk_verdicts[0]["accepted"][2::3] == [False] * BODIES


def test_keys_sort_as_nodes_localecompare(sdk_verdicts):
    out, keys = sdk_verdicts
    assert sorted(keys, key=sort_key) == out["sorted"]
