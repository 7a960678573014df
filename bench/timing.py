"""Per-step timing for the benches, with a witness of other load on the machine.

The project's machine is shared: a job outside the benchmark lock can slow one side of a comparison. `StepClock`
keeps every step's start time and, on Linux, the CPU time the whole machine and this process spent over the timed
window; `other_load` = (machine busy time - this process's CPU time) / (window x cores) is then the share of the
machine something else used (~0 on a quiet machine). Benches print it next to the timings, so a disturbed run shows.
"""

from __future__ import annotations

import os
import statistics
import time


def _machine_busy_s() -> float | None:
    """CPU seconds all cores spent not idle since boot (None off Linux)."""
    try:
        with open("/proc/stat") as handle:
            fields = [int(v) for v in handle.readline().split()[1:]]
    except OSError:
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def _process_cpu_s() -> float:
    times = os.times()
    return times.user + times.system


class StepClock:
    """Wall-clock time at the start of every step (call `tick()`); works inside Lightning and HF callbacks."""

    def __init__(self):
        self.starts: list[float] = []
        self.cpu: list[tuple[float | None, float]] = []  # (machine busy s, process CPU s) at each start

    def tick(self) -> None:
        self.starts.append(time.perf_counter())
        self.cpu.append((_machine_busy_s(), _process_cpu_s()))

    def ms_per_step(self, warmup: int) -> float:
        """Mean over the timed window: (last start - first start) / steps."""
        times = self.starts[warmup:]
        return 1000 * (times[-1] - times[0]) / (len(times) - 1)

    def median_ms(self, warmup: int) -> float:
        times = self.starts[warmup:]
        return 1000 * statistics.median(b - a for a, b in zip(times, times[1:]))

    def other_load(self, warmup: int) -> float | None:
        """Share of the machine's cores used by other processes during the timed window."""
        (busy0, own0), (busy1, own1) = self.cpu[warmup], self.cpu[-1]
        if busy0 is None:
            return None
        window = self.starts[-1] - self.starts[warmup]
        return round(max(0.0, (busy1 - busy0) - (own1 - own0)) / (window * (os.cpu_count() or 1)), 3)


class ChildLoad:
    """`other_load` of a stretch spent waiting on child processes (a subprocess run): machine busy time less the
    children's CPU time, over the stretch's wall time and the cores."""

    def __enter__(self) -> ChildLoad:
        self.start = (time.perf_counter(), _machine_busy_s(), _children_cpu_s())
        return self

    def __exit__(self, *exc) -> None:
        self.end = (time.perf_counter(), _machine_busy_s(), _children_cpu_s())

    @property
    def other_load(self) -> float | None:
        (t0, busy0, own0), (t1, busy1, own1) = self.start, self.end
        if busy0 is None:
            return None
        return round(max(0.0, (busy1 - busy0) - (own1 - own0)) / ((t1 - t0) * (os.cpu_count() or 1)), 3)


def _children_cpu_s() -> float:
    times = os.times()
    return times.children_user + times.children_system
