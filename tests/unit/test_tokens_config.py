"""The JWKS/issuer settings VerifyToken relies on are validated up front (no crash at start)."""

from __future__ import annotations

import pytest

from sidecar.config import ConfigError, load


def test_bad_jwks_and_issuer_settings_are_all_named(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(
        "jwks: {ttl_seconds: 0, unknown_kid_cooldown_seconds: -1, verified_cache_max_entries: -1,"
        " max_document_bytes: 0, max_stale_seconds: 0}\n"
        "issuers:\n  - issuer: https://id.test\n    jwks_uri: ftp://id.test/keys\n    max_lifetime_seconds: -5\n"
    )
    with pytest.raises(ConfigError) as err:
        load(path, env={})
    text = str(err.value)
    for field in (
        "jwks.ttl_seconds",
        "jwks.unknown_kid_cooldown_seconds",
        "jwks.verified_cache_max_entries",
        "jwks.max_document_bytes",
        "jwks.max_stale_seconds",
        "issuers[0].jwks_uri",
        "issuers[0].max_lifetime_seconds",
    ):
        assert field in text, field


def test_issuer_defaults_match_the_issue():
    s = load(env={}, path=None)
    assert s.jwks.ttl_seconds == 300 and s.jwks.unknown_kid_cooldown_seconds == 30
    assert s.jwks.max_stale_seconds == 86400
