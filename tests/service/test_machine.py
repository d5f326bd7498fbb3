"""The machine a benchmark report names (service/machine.py)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from service.machine import describe, gpu_names


def test_the_report_names_the_processor_and_the_cores_this_process_may_use() -> None:
    machine = describe()
    assert machine["cores"] == len(os.sched_getaffinity(0))
    assert machine["cpu"] and machine["python"].count(".") == 2
    assert "gpus" not in machine


def test_without_nvidia_smi_there_are_no_gpus(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    assert gpu_names() == []
    assert describe(gpus=True)["gpus"] == []


def test_gpus_are_named_as_nvidia_smi_lists_them(monkeypatch, tmp_path: Path) -> None:
    # This machine has no GPU: a stand-in prints what nvidia-smi prints for two cards.
    tool = tmp_path / "nvidia-smi"
    tool.write_text("#!/bin/sh\nprintf 'NVIDIA H200\\nNVIDIA H200\\n'\n")
    tool.chmod(tool.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", str(tmp_path))
    assert gpu_names() == ["NVIDIA H200", "NVIDIA H200"]
