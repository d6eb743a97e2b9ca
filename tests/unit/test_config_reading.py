"""The config file read as if an attacker wrote it (issue 24 rows 7-10, the reader's half): regular
files only, a byte cap, alias expansion bounded at compose time, problems that never echo values.
The process-level proofs (the server keeps answering during such a reload) are in
tests/e2e/test_hostile_reload.py."""

from __future__ import annotations

import os
import time

import pytest

from sidecar.config import ConfigError, load
from sidecar.config.reading import MAX_CONFIG_BYTES, MAX_NODES, parse_config_yaml, read_config_bytes


def alias_bomb(levels: int = 8) -> str:
    """The 428-byte shape from the issue: each level a list of nine aliases of the level below."""
    lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, levels + 1):
        lines.append(f"a{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * 9) + "]")
    return "\n".join(lines) + f"\nlog_level: *a{levels}\n"


def test_an_alias_bomb_is_refused_while_composing_without_echoing_it(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(alias_bomb(8))
    started = time.monotonic()
    with pytest.raises(ConfigError) as err:
        load(path, env={})
    assert time.monotonic() - started < 5  # was 7.7 s and 330 MB rendering the value
    (problem,) = err.value.problems
    assert "alias" in problem and "lol" not in problem and len(problem) < 300


def test_aliases_within_the_bound_are_fine(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(
        "defaults: &d {algorithms: [ES256], audiences: [api]}\n"
        "issuers:\n  - {<<: *d, issuer: 'https://a.example'}\n  - {<<: *d, issuer: 'https://b.example'}\n"
    )
    raw = parse_config_yaml(path.read_bytes(), path)
    assert [i["audiences"] for i in raw["issuers"]] == [["api"], ["api"]]


def test_a_value_of_the_wrong_type_is_named_by_type_never_rendered(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("log_level: [sk_live_secret]\nlimits: {max_in_flight: sk_live_other, max_token_bytes: {a: 1}}\n")
    with pytest.raises(ConfigError) as err:
        load(path, env={})
    assert "sk_live" not in str(err.value)
    assert "limits.max_in_flight: must be int, got text" in err.value.problems
    assert "limits.max_token_bytes: must be int, got a mapping" in err.value.problems
    assert "log_level: must be str, got a list" in err.value.problems


def test_a_yaml_syntax_error_names_the_line_not_its_text(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("platform:\n  api_key: 'sk_live_secret\n  app_id: x\n")
    with pytest.raises(ConfigError) as err:
        load(path, env={})
    assert "sk_live" not in str(err.value) and "line" in str(err.value)


@pytest.mark.parametrize(
    "text, problem",
    [
        ("a: &a [*a]\n", "recursive alias"),
        ("a: " + "[" * 200 + "]" * 200 + "\n", "nesting deeper"),
        ("a: [" + ",".join(["1"] * (MAX_NODES + 10)) + "]\n", f"more than {MAX_NODES} nodes"),
    ],
)
def test_recursive_deep_and_huge_documents_are_refused(tmp_path, text, problem):
    with pytest.raises(ConfigError) as err:
        parse_config_yaml(text.encode(), tmp_path / "c.yaml")
    assert problem in str(err.value)


def test_only_a_regular_file_is_read(tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    for path, kind in ((fifo, "a FIFO"), ("/dev/zero", "a character device"), (tmp_path, "a directory")):
        with pytest.raises(ConfigError) as err:  # returns at once: the FIFO has no writer, the open is non-blocking
            read_config_bytes(path)
        assert f"is not a regular file ({kind})" in str(err.value)
    link = tmp_path / "link.yaml"
    link.symlink_to(fifo)  # through a symlink (a ConfigMap's ..data) as well
    with pytest.raises(ConfigError, match="a FIFO"):
        load(link, env={})


def test_a_file_over_the_cap_is_refused_not_cut(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_bytes(b"# " + b"x" * MAX_CONFIG_BYTES + b"\n")
    with pytest.raises(ConfigError, match="larger than"):
        read_config_bytes(path)
    path.write_bytes(b"log_level: debug\n")
    assert read_config_bytes(path) == b"log_level: debug\n"


def test_a_secret_file_that_is_a_fifo_is_a_problem_not_a_hang(tmp_path):
    fifo = tmp_path / "api-key"
    os.mkfifo(fifo)
    with pytest.raises(ConfigError) as err:
        load(None, env={"AUTHSIDECAR_PLATFORM_API_KEY_FILE": str(fifo)})
    assert any(
        p.startswith("platform.api_key: AUTHSIDECAR_PLATFORM_API_KEY_FILE:") and "a FIFO" in p
        for p in err.value.problems
    )


def test_thousands_of_bad_items_are_summarised(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("listen: [" + ",".join(["[1]"] * 5000) + "]\n")
    with pytest.raises(ConfigError) as err:
        load(path, env={})
    assert len(err.value.problems) <= 51 and err.value.problems[-1].startswith("… and ")
