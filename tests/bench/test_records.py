"""Provenance of a measurement (`bench/records.py`): one function for the benches, the records and the reproducer."""

from __future__ import annotations

import os

import torch

from bench.records import machine_line, provenance


def test_the_machine_names_its_usable_cores_its_gpu_or_none_and_reads_as_one_line(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    machine = provenance()["machine"]
    assert machine["cores"] == len(os.sched_getaffinity(0))
    assert machine["gpu"] == (torch.cuda.get_device_name() if torch.cuda.is_available() else None)
    gpu = machine["gpu"] or "no GPU"
    assert machine_line(machine) == f"{machine['cpu']}, {machine['cores']} cores, {gpu}, OMP_NUM_THREADS=2"
    assert machine_line("x86_64 2 CPU cores, OMP_NUM_THREADS=2") == "x86_64 2 CPU cores, OMP_NUM_THREADS=2"  # older
