"""The memory budget: where it is read (cgroup v2/v1 files laid out as the kernel writes them), and how
caches are sized from it; explicit sizes that cannot fit are refused at load, naming them."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.entry_sizes import bytes_per_entry
from sidecar.config import ConfigError, Settings, cgroup, load, memory_budget, memory_plan
from sidecar.config.memory_budget import BASELINE_MB, CACHES, MB, MIN_ENTRIES, plan

EMULATED = {"AUTHSIDECAR_EMULATOR_MODE": "on"}


def _tree(tmp: Path, files: dict[str, str], proc: str) -> tuple[Path, Path]:
    for rel, text in files.items():
        (tmp / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp / rel).write_text(text)
    (tmp / "proc").write_text(proc)
    return tmp, tmp / "proc"


def test_cgroup_v2_limit_of_the_process_own_group(tmp_path):
    root, proc = _tree(
        tmp_path, {"kubepods/pod1/c1/memory.max": "268435456\n", "memory.max": "max\n"}, "0::/kubepods/pod1/c1\n"
    )
    assert cgroup.memory_limit(root, proc) == (268435456, f"cgroup v2 {root}/kubepods/pod1/c1/memory.max")


def test_cgroup_v2_max_means_no_limit(tmp_path):
    root, proc = _tree(tmp_path, {"memory.max": "max\n"}, "0::/\n")
    assert cgroup.memory_limit(root, proc)[0] is None


def test_cgroup_v2_in_a_namespace_reads_the_mount_root(tmp_path):
    # Inside a cgroup namespace /proc/self/cgroup says "/" and the mount root is the container itself.
    root, proc = _tree(tmp_path, {"memory.max": "134217728\n"}, "0::/\n")
    assert cgroup.memory_limit(root, proc)[0] == 134217728


def test_cgroup_v1_limit_and_its_unlimited_value(tmp_path):
    root, proc = _tree(
        tmp_path,
        {"memory/docker/abc/memory.limit_in_bytes": "536870912\n"},
        "5:cpu,cpuacct:/docker/abc\n4:memory:/docker/abc\n0::/\n",
    )
    assert cgroup.memory_limit(root, proc)[0] == 536870912
    (root / "memory/docker/abc/memory.limit_in_bytes").write_text("9223372036854771712\n")
    assert cgroup.memory_limit(root, proc) == (None, f"cgroup v1 {root}/memory/docker/abc/memory.limit_in_bytes")


def test_no_cgroup_files_at_all(tmp_path):
    assert cgroup.memory_limit(tmp_path, tmp_path / "absent") == (None, "none")


def test_budget_prefers_config_then_container_then_default():
    assert memory_budget.budget(96, 1 << 30, "x") == (96 * MB, "config")
    assert memory_budget.budget(0, 256 * MB, "cgroup v2 f") == (192 * MB, "75% of cgroup v2 f")
    assert memory_budget.budget(0, None, "none") == (memory_budget.DEFAULT_BUDGET_MB * MB, "default")


def test_every_cache_full_fits_the_budget():
    for mb in (128, 192, 256, 512, 4096):
        p = plan(mb * MB, "config", {})
        assert not p.problems
        assert p.estimate_bytes <= mb * MB, (mb, p.estimate_bytes)
        assert set(p.sizes) == {c.field for c in CACHES}
        assert all(n >= MIN_ENTRIES for n in p.sizes.values())


def test_explicit_sizes_win_and_the_rest_share_what_is_left():
    field = "jwks.verified_cache_max_entries"
    auto = plan(256 * MB, "config", {})
    p = plan(256 * MB, "config", {field: 5_000})
    assert p.sizes[field] == 5_000 and not p.problems
    others = [c.field for c in CACHES if c.field != field]
    assert all(p.sizes[f] > auto.sizes[f] for f in others)  # the tokens' unused share went to the others
    assert p.estimate_bytes <= 256 * MB


def test_explicit_sizes_that_cannot_fit_are_named():
    p = plan(
        128 * MB,
        "config",
        {"jwks.verified_cache_max_entries": 1_000_000, "platform.session_cache_max_entries": 100_000},
    )
    assert len(p.problems) == 1
    assert "jwks.verified_cache_max_entries=1000000" in p.problems[0]
    assert "platform.session_cache_max_entries=100000" in p.problems[0]


def test_a_budget_below_the_baseline_is_refused():
    assert plan((BASELINE_MB + 1) * MB, "config", {}).problems


def test_load_sizes_the_caches_from_the_budget():
    s = load(env={**EMULATED, "AUTHSIDECAR_LIMITS_MEMORY_BUDGET_MB": "256"})
    expected = plan(256 * MB, "config", {}, memory_budget.transport_bytes(1000, 100, 128)).sizes  # the defaults
    assert s.jwks.verified_cache_max_entries == expected["jwks.verified_cache_max_entries"]
    assert s.platform.session_cache_max_entries == expected["platform.session_cache_max_entries"]
    assert memory_plan(s).estimate_bytes <= 256 * MB  # reloaded with the sizes now explicit: same plan


def test_load_refuses_explicit_sizes_past_the_budget(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("limits: {memory_budget_mb: 128}\njwks: {verified_cache_max_entries: 2000000}\n")
    with pytest.raises(ConfigError) as err:
        load(path, env=EMULATED)
    assert "jwks.verified_cache_max_entries=2000000" in str(err.value)
    assert "limits.memory_budget_mb" in str(err.value)


def test_negative_sizes_and_budget_are_config_errors(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("limits: {memory_budget_mb: -1}\nauthy: {consumed_codes_max_entries: -5}\n")
    with pytest.raises(ConfigError) as err:
        load(path, env=EMULATED)
    assert "limits.memory_budget_mb" in str(err.value) and "authy.consumed_codes_max_entries" in str(err.value)


def test_bytes_per_entry_constants_are_no_smaller_than_measured():
    measured = bytes_per_entry(5_000)
    costs = {c.field: c.bytes_per_entry for c in CACHES}
    assert measured["verified_tokens"] <= costs["jwks.verified_cache_max_entries"] * 1.1
    session_unit = measured["sessions"] + measured["sessions_negative"] + measured["revoked"]
    assert session_unit <= costs["platform.session_cache_max_entries"] * 1.1
    assert measured["consumed_tokens"] <= costs["authy.consumed_codes_max_entries"] * 1.1
    assert measured["session_map"] <= costs["identity.session_map_max_entries"] * 1.1
    assert measured["logout_revocations"] <= costs["identity.logout_revocations_max_entries"] * 1.1
    assert Settings().limits.memory_budget_mb == 0


def test_row01_transport_limits_that_cannot_fit_the_budget_are_refused_at_load():
    # Issue 24 rows 1 and 2: the plan had no per-stream or per-request cost. It counts them now, and
    # limits whose transport leaves the caches too little are refused like oversize caches.
    env = {**EMULATED, "AUTHSIDECAR_LIMITS_MEMORY_BUDGET_MB": "256"}
    fits = load(env=env)
    assert memory_plan(fits).transport_bytes == memory_budget.transport_bytes(1000, 100, 128)
    assert memory_plan(fits).estimate_bytes <= 256 * MB
    with pytest.raises(ConfigError) as refused:
        load(env={**env, "AUTHSIDECAR_LIMITS_VERIFY_STREAMS_MAX": "700"})
    message = str(refused.value)
    assert "limits.memory_budget_mb: 256 MB" in message and "gRPC transport" in message
    assert "limits.verify_streams_max=700" in message and "limits.max_in_flight=1000" in message
    with pytest.raises(ConfigError, match="limits.max_in_flight=2000"):
        load(env={**env, "AUTHSIDECAR_LIMITS_MAX_IN_FLIGHT": "2000"})
    with pytest.raises(ConfigError, match="gRPC transport"):  # the defaults need ~204 MB
        load(env={**EMULATED, "AUTHSIDECAR_LIMITS_MEMORY_BUDGET_MB": "192"})


def test_row01_transport_cost_counts_streams_windows_and_requests():
    t = memory_budget.TRANSPORT
    one_stream = memory_budget.stream_bytes(128)
    assert one_stream == max(t.window_bytes, t.max_request_bytes) + t.write_buffer_bytes + 128 * t.answer_bytes
    per_call = t.call_overhead_bytes
    assert (
        memory_budget.transport_bytes(10, 3, 128) - memory_budget.transport_bytes(10, 2, 128)
    ) == one_stream + per_call
    assert (
        memory_budget.transport_bytes(11, 2, 128) - memory_budget.transport_bytes(10, 2, 128)
    ) == t.max_request_bytes + per_call
    assert memory_budget.transport_bytes(0, 0, 128) == t.window_bytes  # one connection window, no call
    # the cache share shrinks by exactly the transport's cost
    bare, counted = plan(512 * MB, "config", {}), plan(512 * MB, "config", {}, 64 * MB)
    assert counted.transport_bytes == 64 * MB
    assert sum(counted.sizes.values()) < sum(bare.sizes.values())
    assert counted.estimate_bytes <= 512 * MB
