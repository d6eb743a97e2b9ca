"""Config sections `authy` and `identity`: validation and the emulator defaults."""

from __future__ import annotations

import pytest

from sidecar import config as cfg

EMULATED = {"AUTHSIDECAR_EMULATOR_MODE": "on"}


def test_real_authy_needs_its_api_key():
    with pytest.raises(cfg.ConfigError) as err:
        cfg.load(env={**EMULATED, "AUTHSIDECAR_AUTHY_BASE_URL": "https://api.authy.example"})
    assert "authy.api_key: is required when authy.base_url is set" in err.value.problems


@pytest.mark.parametrize(
    "name, value, problem",
    [
        ("AUTHY_APPROVAL_POLL_INTERVAL_SECONDS", "0.01", "authy.approval_poll_interval_seconds: must be at least 0.05"),
        ("AUTHY_CALLBACK_NONCE_WINDOW_SECONDS", "0", "authy.callback_nonce_window_seconds: must be positive"),
        ("AUTHY_CODE_REPLAY_WINDOW_SECONDS", "-1", "authy.code_replay_window_seconds: must be positive"),
        ("IDENTITY_TIMEOUT_SECONDS", "0", "identity.timeout_seconds: must be positive"),
    ],
)
def test_bad_values_are_named(name, value, problem):
    with pytest.raises(cfg.ConfigError) as err:
        cfg.load(env={**EMULATED, f"AUTHSIDECAR_{name}": value})
    assert problem in err.value.problems


def test_emulator_fills_authy_and_identity_but_keeps_what_is_set():
    s = cfg.load(env={**EMULATED, "AUTHSIDECAR_IDENTITY_BASE_URL": "https://id.example/api"})
    pointed = cfg.pointed_at_emulator(s, "http://127.0.0.1:8900/")
    assert pointed.authy.base_url == "http://127.0.0.1:8900/authy"
    assert pointed.authy.api_key == cfg.EMULATOR_AUTHY_API_KEY
    assert pointed.identity.base_url == "https://id.example/api"
