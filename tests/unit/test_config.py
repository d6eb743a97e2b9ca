"""Settings: file + environment, every bad field named at once."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from sidecar.config import ConfigError, Settings, load, memory_plan, pointed_at_emulator, with_cache_sizes


def test_defaults_never_embed_the_emulator_but_the_demo_does():
    s = load(env={})
    assert not s.uses_emulator and s.listen == ["127.0.0.1:50051"] and s.ops_listen == "0.0.0.0:9464"
    assert load(env={}, demo=True).uses_emulator  # `sidecar run`
    assert load(env={"AUTHSIDECAR_EMULATOR_MODE": "on"}).uses_emulator
    assert not load(
        env={
            "AUTHSIDECAR_EMULATOR_MODE": "off",
            "AUTHSIDECAR_PLATFORM_BASE_URL": "https://p.example/v2",
            "AUTHSIDECAR_PLATFORM_API_KEY": "k",
            "AUTHSIDECAR_PLATFORM_APP_ID": "a",
        },
        demo=True,
    ).uses_emulator


def test_real_upstream_names_every_missing_field():
    with pytest.raises(ConfigError) as err:
        load(env={"AUTHSIDECAR_EMULATOR_MODE": "off"})
    assert str(err.value).startswith("Missing required fields: platform.base_url, platform.api_key, platform.app_id")


def test_every_bad_field_is_reported_together(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(
        "listen: [nonsense]\nlog_level: loud\nlimits: {max_in_flight: many}\n"
        "issuers:\n  - issuer: ''\n    algorithms: [HS256]\nsurprise: 1\n"
    )
    with pytest.raises(ConfigError) as err:
        load(path, env={})
    text = str(err.value)
    for field in (
        "listen[0]",
        "log_level",
        "limits.max_in_flight",
        "issuers[0].issuer",
        "issuers[0].algorithms",
        "surprise: unknown field",
    ):
        assert field in text, field


def test_environment_overrides_file_and_reads_secret_files(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("platform: {base_url: 'https://api.example/v2', api_key: from-file, app_id: app}\n")
    secret = tmp_path / "key"
    secret.write_text("from-secret-file\n")
    s = load(
        path,
        env={
            "AUTHSIDECAR_PLATFORM_API_KEY_FILE": str(secret),
            "AUTHSIDECAR_LIMITS_MAX_IN_FLIGHT": "7",
            "AUTHSIDECAR_LISTEN": "127.0.0.1:1,unix:///tmp/a.sock",
        },
    )
    assert s.platform.api_key == "from-secret-file"
    assert s.limits.max_in_flight == 7
    assert s.listen == ["127.0.0.1:1", "unix:///tmp/a.sock"]
    assert not s.uses_emulator


def test_unreadable_and_invalid_yaml(tmp_path):
    with pytest.raises(ConfigError, match="cannot read"):
        load(tmp_path / "missing.yaml", env={})
    bad = tmp_path / "bad.yaml"
    bad.write_text("listen: [\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load(bad, env={})


def test_serve_exits_nonzero_naming_fields():
    env = {"AUTHSIDECAR_EMULATOR_MODE": "off", "PATH": "/usr/bin:/bin"}
    proc = subprocess.run(
        [sys.executable, "-m", "sidecar", "serve"], env=env, capture_output=True, text=True, timeout=30
    )
    assert proc.returncode == 2
    assert "Missing required fields: platform.base_url, platform.api_key, platform.app_id" in proc.stderr


def test_the_annotated_example_is_valid_and_matches_the_defaults():
    example = Path(__file__).resolve().parents[2] / "examples" / "config.yaml"
    assert load(example, env={}) == load(env={})  # both with the cache sizes the memory budget gives
    assert with_cache_sizes(Settings(), memory_plan(Settings()).sizes) == load(env={})


@pytest.mark.parametrize(
    "written, problem",
    [
        ("0660", 'socket_mode: write it quoted, like "0660" (unquoted, YAML reads it as the number 432)'),
        ("660", 'socket_mode: write it quoted, like "0660" (unquoted, YAML reads it as the number 660)'),
        ("'0999'", 'socket_mode: must be octal permissions as a quoted string, like "0660"'),
        ("'rw-rw----'", 'socket_mode: must be octal permissions as a quoted string, like "0660"'),
        ("'01777'", 'socket_mode: must be octal permissions as a quoted string, like "0660"'),
    ],
)
def test_socket_mode_written_unquoted_is_a_config_error_naming_the_field(tmp_path, written, problem):
    # Issue 16 case 10: an unquoted 0660 was YAML's octal 432, then read as the octal string "432": mode 0432.
    path = tmp_path / "c.yaml"
    path.write_text(f"socket_mode: {written}\n")
    with pytest.raises(ConfigError) as err:
        load(path, env={})
    assert problem in err.value.problems


@pytest.mark.parametrize("written, mode", [("'0660'", 0o660), ('"600"', 0o600), ("0o640", 0o640)])
def test_socket_mode_as_octal_text(tmp_path, written, mode):
    path = tmp_path / "c.yaml"
    path.write_text(f"socket_mode: {written}\n")
    assert int(load(path, env={}).socket_mode, 8) == mode


def test_a_secret_file_that_is_not_utf8_is_a_config_error_with_exit_code_2(tmp_path):
    secret = tmp_path / "key"
    secret.write_bytes(b"\xff\xfe\x00k\xe9y")
    with pytest.raises(ConfigError) as err:
        load(env={"AUTHSIDECAR_PLATFORM_API_KEY_FILE": str(secret)})
    assert "platform.api_key: AUTHSIDECAR_PLATFORM_API_KEY_FILE is not UTF-8 text" in err.value.problems
    proc = subprocess.run(
        [sys.executable, "-m", "sidecar", "serve"],
        capture_output=True,
        text=True,
        timeout=30,
        env={"AUTHSIDECAR_PLATFORM_API_KEY_FILE": str(secret), "PATH": "/usr/bin:/bin"},
    )
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "not UTF-8 text" in proc.stderr


def test_verify_stream_limits_are_checked_and_named(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(
        "limits: {verify_streams_max: 0, verify_stream_items_in_flight: 0, verify_stream_item_timeout_seconds: -1,"
        " verify_stream_items_max: 0}\n"
    )
    with pytest.raises(ConfigError) as err:
        load(path, env={})
    for field in (
        "limits.verify_streams_max",
        "limits.verify_stream_items_in_flight",
        "limits.verify_stream_item_timeout_seconds",
        "limits.verify_stream_items_max",
    ):
        assert field in str(err.value), field
    s = load(env={"AUTHSIDECAR_LIMITS_VERIFY_STREAM_ITEM_TIMEOUT_SECONDS": "0.25"})
    assert s.limits.verify_stream_item_timeout_seconds == 0.25 and s.limits.verify_streams_max == 100


def test_row6_the_emulator_never_takes_over_a_configured_upstream():
    s = load(
        env={
            "AUTHSIDECAR_EMULATOR_MODE": "on",
            "AUTHSIDECAR_CHALLENGES_SECRET_KEY": "sk_live_real",
            "AUTHSIDECAR_AUTHY_BASE_URL": "https://api.authy.example",
            "AUTHSIDECAR_AUTHY_API_KEY": "ak",
        }
    )
    out = pointed_at_emulator(s, "http://127.0.0.1:8900")
    assert (out.challenges.base_url, out.challenges.secret_key) == ("", "sk_live_real")  # its region's URL
    assert (out.authy.base_url, out.authy.api_key) == ("https://api.authy.example", "ak")
    assert out.platform.base_url == "http://127.0.0.1:8900/v2"  # wholly unset: the emulator's
    assert out.identity.base_url.startswith("http://127.0.0.1:8900/")


def test_row6_a_platform_set_in_part_needs_all_of_it_even_with_the_emulator():
    with pytest.raises(ConfigError) as err:
        load(env={"AUTHSIDECAR_EMULATOR_MODE": "on", "AUTHSIDECAR_PLATFORM_API_KEY": "real-key"})
    assert "platform.base_url" in str(err.value) and "platform.app_id" in str(err.value)


def test_row5_emulator_listen_must_be_loopback():
    with pytest.raises(ConfigError, match="emulator.listen: must be a loopback host:port"):
        load(env={"AUTHSIDECAR_EMULATOR_LISTEN": "0.0.0.0:8900"})
    assert load(env={"AUTHSIDECAR_EMULATOR_LISTEN": "[::1]:8900"}).emulator.listen == "[::1]:8900"


def test_emulator_mode_on_points_a_wholly_unset_verify_section_at_the_emulator():
    s = load(env={"AUTHSIDECAR_EMULATOR_MODE": "on", "AUTHSIDECAR_SECOND_FACTORS_PROVIDER": "verify"})
    out = pointed_at_emulator(s, "http://127.0.0.1:8900")
    assert out.verify.base_url == "http://127.0.0.1:8900/twilio-verify"
    assert out.verify.account_sid.startswith("AC") and out.verify.service_sid.startswith("VA") and out.verify.auth_token
    # Any credential set: a real Verify account, never redirected, and its required fields still required.
    with pytest.raises(ConfigError, match="verify.service_sid: is required"):
        load(
            env={
                "AUTHSIDECAR_EMULATOR_MODE": "on",
                "AUTHSIDECAR_SECOND_FACTORS_PROVIDER": "verify",
                "AUTHSIDECAR_VERIFY_ACCOUNT_SID": "AC" + "1" * 32,
                "AUTHSIDECAR_VERIFY_AUTH_TOKEN": "t",
            }
        )
    # Without the emulator the section is required as before.
    with pytest.raises(ConfigError, match="verify.account_sid: is required"):
        load(
            env={
                "AUTHSIDECAR_EMULATOR_MODE": "off",
                "AUTHSIDECAR_SECOND_FACTORS_PROVIDER": "verify",
                "AUTHSIDECAR_PLATFORM_BASE_URL": "https://p.example",
                "AUTHSIDECAR_PLATFORM_API_KEY": "k",
                "AUTHSIDECAR_PLATFORM_APP_ID": "a",
            }
        )
