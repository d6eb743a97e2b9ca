"""The ext_authz config section: rules and header names validated, every bad field named."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from sidecar.config import ConfigError, load


def load_ext_authz(tmp_path, section: dict):
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump({"ext_authz": section}))
    return load(path, env={})


def test_rules_load_with_defaults(tmp_path):
    s = load_ext_authz(
        tmp_path, {"rules": [{"name": "api", "path_prefix": "/api", "checks": ["jwt"], "required_scopes": ["read"]}]}
    )
    (rule,) = s.ext_authz.rules
    assert (rule.name, rule.checks, rule.required_scopes, rule.methods) == ("api", ["jwt"], ["read"], [])
    assert s.ext_authz.enabled and s.ext_authz.session_token_header == "x-session-token"


def test_example_config_is_valid():
    s = load(Path(__file__).resolve().parents[2] / "examples" / "config.yaml", env={})
    assert s.ext_authz.identity_header_prefix == "x-auth-"


def test_every_bad_rule_field_is_named(tmp_path):
    with pytest.raises(ConfigError) as err:
        load_ext_authz(
            tmp_path,
            {
                "rules": [
                    {"name": "api", "path_prefix": "api", "checks": ["jwt", "jwt"], "methods": ["FETCH"]},
                    {"name": "api", "checks": ["allow", "jwt"], "path_regex": "("},
                    {"name": "Bad Name", "checks": ["magic"], "required_scopes": ["x"], "action": "y"},
                    {"name": "default", "checks": []},
                ],
                "claim_headers": [{"claim": "email", "header": "x-email"}, {"claim": "", "header": "x-auth-e"}],
                "phone_header": "x-auth-phone",
                "session_token_header": "Bad Header",
            },
        )
    problems = err.value.problems
    for expected in [
        "ext_authz.rules[0].path_prefix: must start with /",
        "ext_authz.rules[0].checks: lists a check twice",
        "ext_authz.rules[0].methods[0]: is not an HTTP method",  # by position: values are never echoed
        "ext_authz.rules[1].name: duplicate rule name api",
        "ext_authz.rules[1].checks: allow and deny stand alone",
        "ext_authz.rules[2].checks[0]: is not one of",
        "ext_authz.rules[2].checks: issuers, audience and required_scopes need the jwt check",
        "ext_authz.rules[2].action: needs the approval or challenge check",
        "ext_authz.rules[2].name: must be",
        "ext_authz.rules[3].name: must be",
        "ext_authz.rules[3].checks: needs at least one of",
        "ext_authz.claim_headers[0].header: must be a lower-case header name starting with x-auth-",
        "ext_authz.claim_headers[1].claim: is required",
        "ext_authz.phone_header: must not start with x-auth-",
        "ext_authz.session_token_header: must be a lower-case header name",
    ]:
        assert any(p.startswith(expected) for p in problems), (expected, problems)
    assert any(p.startswith("ext_authz.rules[1].path_regex: not a valid regular expression") for p in problems)


def test_disabled_from_the_environment():
    assert load(env={"AUTHSIDECAR_EXT_AUTHZ_ENABLED": "false"}).ext_authz.enabled is False


@pytest.mark.parametrize(
    "checks, bad",
    [
        (["challenge", "jwt"], "challenge"),
        (["approval", "session"], "approval"),
        (["challenge"], "challenge"),
        (["approval"], "approval"),
        (["jwt", "approval", "challenge"], None),
        (["session", "challenge"], None),
    ],
)
def test_a_one_time_token_check_needs_a_credential_check_before_it(tmp_path, checks, bad):
    # Issue 16 case 9: [challenge, jwt] let a stolen challenge token plus any bearer through as the victim.
    rule = {"name": "r", "path_prefix": "/r", "checks": checks}
    if bad is None:
        assert load_ext_authz(tmp_path, {"rules": [rule]}).ext_authz.rules[0].checks == checks
        return
    with pytest.raises(ConfigError) as err:
        load_ext_authz(tmp_path, {"rules": [rule]})
    assert f"ext_authz.rules[0].checks: {bad} needs a jwt or session check before it" in err.value.problems
