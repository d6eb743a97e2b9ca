"""identity.admin_api: off by default, needs the InAI wire, and only then builds the admin component."""

from __future__ import annotations

import pytest

from sidecar.config import ConfigError, load
from sidecar.runtime.assembly import admin_from_settings


def test_off_by_default_and_no_component():
    s = load(env={"AUTHSIDECAR_EMULATOR_MODE": "on"})
    assert s.identity.admin_api is False and admin_from_settings(s) is None


def test_on_with_the_inai_wire_builds_it():
    s = load(env={"AUTHSIDECAR_IDENTITY_ADMIN_API": "true", "AUTHSIDECAR_IDENTITY_BASE_URL": "https://auth.test"})
    assert admin_from_settings(s) is not None


def test_refused_with_the_identity_service_wire():
    env = {"AUTHSIDECAR_IDENTITY_ADMIN_API": "true", "AUTHSIDECAR_IDENTITY_API": "identity-service"}
    with pytest.raises(ConfigError, match="identity.admin_api: InAI's platform administration needs identity.api inai"):
        load(env=env)
