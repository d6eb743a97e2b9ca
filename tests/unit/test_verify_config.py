"""Config: `second_factors.provider` and the `verify:` section (Twilio Verify v2)."""

from __future__ import annotations

import pytest

from sidecar import config as cfg
from sidecar.runtime.assembly import factor_settings, second_factors_from_settings
from sidecar.upstream.twilio_verify import TwilioVerifyClient

EMULATED = {"AUTHSIDECAR_EMULATOR_MODE": "on"}
ACCOUNT, SERVICE, KEY = "AC" + "1" * 32, "VA" + "2" * 32, "SK" + "3" * 32
VERIFY = {
    **EMULATED,
    "AUTHSIDECAR_SECOND_FACTORS_PROVIDER": "verify",
    "AUTHSIDECAR_VERIFY_ACCOUNT_SID": ACCOUNT,
    "AUTHSIDECAR_VERIFY_SERVICE_SID": SERVICE,
}


def problems(env) -> list[str]:
    with pytest.raises(cfg.ConfigError) as err:
        cfg.load(env=env)
    return err.value.problems


def test_authy_stays_the_default_and_verify_needs_nothing_then():
    s = cfg.load(env=EMULATED)
    assert s.second_factors.provider == "authy" and s.verify.base_url == "https://verify.twilio.com"
    assert factor_settings(s) is s.authy


def test_provider_must_be_known():
    assert "second_factors.provider: must be one of authy, verify" in problems(
        {**EMULATED, "AUTHSIDECAR_SECOND_FACTORS_PROVIDER": "twilio"}
    )


def test_verify_names_every_missing_field_and_never_a_secret():
    # (emulator.mode on would point the wholly unset section at the emulator instead: test_config.py)
    found = problems({"AUTHSIDECAR_EMULATOR_MODE": "auto", "AUTHSIDECAR_SECOND_FACTORS_PROVIDER": "verify"})
    assert "verify.account_sid: is required when second_factors.provider is verify" in found
    assert "verify.service_sid: is required when second_factors.provider is verify" in found
    assert "verify.auth_token: is required (or verify.api_key_sid + verify.api_key_secret)" in found
    secret = "s3cr3t-value-never-printed"
    found = problems(
        {
            **VERIFY,
            "AUTHSIDECAR_VERIFY_API_KEY_SID": "SKnot-hex",
            "AUTHSIDECAR_VERIFY_AUTH_TOKEN": secret,
            "AUTHSIDECAR_VERIFY_ACCOUNT_SID": "AC" + secret,
            "AUTHSIDECAR_VERIFY_TIMEOUT_SECONDS": "0",
            "AUTHSIDECAR_VERIFY_BASE_URL": "verify.twilio.com",
            "AUTHSIDECAR_VERIFY_APPROVAL_POLL_INTERVAL_SECONDS": "0.001",
        }
    )
    assert "verify.api_key_sid: must be SK followed by 32 hex digits" in found
    assert "verify.account_sid: must be AC followed by 32 hex digits" in found
    assert "verify.api_key_secret: verify.api_key_sid and verify.api_key_secret go together" in found
    assert "verify.timeout_seconds: must be positive" in found
    assert "verify.base_url: must start with http:// or https://" in found
    assert "verify.approval_poll_interval_seconds: must be at least 0.05" in found
    assert not any(secret in p for p in found)


def test_secrets_come_from_files_too(tmp_path):
    (tmp_path / "token").write_text("from-a-file\n")
    (tmp_path / "secret").write_text("key-secret\n")
    s = cfg.load(
        env={
            **VERIFY,
            "AUTHSIDECAR_VERIFY_AUTH_TOKEN_FILE": str(tmp_path / "token"),
            "AUTHSIDECAR_VERIFY_API_KEY_SID": KEY,
            "AUTHSIDECAR_VERIFY_API_KEY_SECRET_FILE": str(tmp_path / "secret"),
        }
    )
    assert (s.verify.auth_token, s.verify.api_key_secret) == ("from-a-file", "key-secret")


def test_an_api_key_alone_is_enough_for_calls():
    s = cfg.load(env={**VERIFY, "AUTHSIDECAR_VERIFY_API_KEY_SID": KEY, "AUTHSIDECAR_VERIFY_API_KEY_SECRET": "x"})
    assert s.verify.auth_token == ""


async def test_the_assembly_picks_the_adapter_by_provider_and_verify_pacing():
    s = cfg.load(
        env={
            **VERIFY,
            "AUTHSIDECAR_VERIFY_AUTH_TOKEN": "t",
            "AUTHSIDECAR_VERIFY_APPROVAL_POLL_INTERVAL_SECONDS": "2.5",
            "AUTHSIDECAR_VERIFY_CODE_REPLAY_WINDOW_SECONDS": "120",
        }
    )
    factors = second_factors_from_settings(s)
    try:
        assert isinstance(factors.upstream, TwilioVerifyClient) and factors.totp_factors is factors.upstream
        assert factors.circuit.name == "verify" and factors.twilio_auth_token == "t"
        assert factors.settings.approval_poll_interval_seconds == 2.5
        assert factors.settings.code_replay_window_seconds == 120
        assert factors.settings.consumed_codes_max_entries == s.authy.consumed_codes_max_entries
    finally:
        await factors.close()
