"""Where a bench run spends its time: wall and CPU seconds per step, on stderr.

CPU counts this process, its waited-for children (load generators, wrk, Envoy, redis-server, stopped
sidecars) and the live processes it is told about (the emulator, the running sidecars), so the steps
add up to what `/usr/bin/time` reports for the whole run.
"""

from __future__ import annotations

import contextlib
import os
import resource
import sys
import time
from collections.abc import Callable

from . import procstats


def _own_and_children() -> float:
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _age() -> float:
    """Seconds since this process started (Linux: its start time and the uptime, both since boot)."""
    with open("/proc/self/stat") as f:
        started = int(f.read().rsplit(")", 1)[1].split()[19]) / os.sysconf("SC_CLK_TCK")  # field 22 of stat(5)
    with open("/proc/uptime") as f:
        return float(f.read().split()[0]) - started


class Clock:
    def __init__(self, live: Callable[[], list[int]]) -> None:
        self.live = live  # pids of the processes running now that the bench will wait for later
        self.steps: list[tuple[str, float, float]] = []
        self._wall, self._cpu = time.perf_counter() - _age(), 0.0  # the first lap includes the interpreter's start

    def cpu(self) -> float:
        total = _own_and_children()
        for pid in self.live():
            with contextlib.suppress(OSError):  # gone: counted among the children once waited for
                total += procstats.cpu_seconds(pid)
        return total

    def lap(self, name: str, cpu: float | None = None) -> None:
        """The wall and CPU seconds since the last lap, as step `name`. `cpu`: the total read earlier
        (before processes the live list named were waited for)."""
        now, total = time.perf_counter(), self.cpu() if cpu is None else cpu
        step = (name, now - self._wall, total - self._cpu)
        self.steps.append(step)
        self._wall, self._cpu = now, total
        print(f"  time {name:<44} wall {step[1]:6.2f} s  cpu {step[2]:6.2f} s", file=sys.stderr, flush=True)

    def summary(self) -> None:
        wall, cpu = sum(s[1] for s in self.steps), sum(s[2] for s in self.steps)
        print(f"  time {'TOTAL':<44} wall {wall:6.2f} s  cpu {cpu:6.2f} s", file=sys.stderr, flush=True)
