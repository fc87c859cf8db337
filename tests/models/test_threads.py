"""Torch's thread counts: the cores a process may use (affinity, cgroup quota), an override,
and OpenMP threads that sleep rather than spin when they wait (`openrft.threads`)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from openrft import threads
from openrft.errors import InvalidRequestError


@pytest.fixture
def eight_cores(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(8)))


def test_a_cgroup_v2_quota_caps_the_affinity(tmp_path: Path, eight_cores: None) -> None:
    (tmp_path / "cpu.max").write_text("150000 100000\n")  # 1.5 CPUs: two threads
    assert threads.usable_cores(tmp_path) == 2
    (tmp_path / "cpu.max").write_text("max 100000\n")
    assert threads.usable_cores(tmp_path) == 8


def test_a_cgroup_v1_quota_caps_the_affinity(tmp_path: Path, eight_cores: None) -> None:
    (tmp_path / "cpu").mkdir()
    (tmp_path / "cpu" / "cpu.cfs_quota_us").write_text("300000\n")
    (tmp_path / "cpu" / "cpu.cfs_period_us").write_text("100000\n")
    assert threads.usable_cores(tmp_path) == 3
    (tmp_path / "cpu" / "cpu.cfs_quota_us").write_text("-1\n")  # no quota
    assert threads.usable_cores(tmp_path) == 8


def test_no_cgroup_means_the_affinity(tmp_path: Path, eight_cores: None) -> None:
    assert threads.usable_cores(tmp_path / "absent") == 8


def test_the_setting_overrides_and_a_bad_one_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setenv(threads.ENV, "3")
    assert threads.chosen_threads() == 3
    monkeypatch.delenv(threads.ENV)
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert threads.chosen_threads() == 1
    monkeypatch.setenv(threads.ENV, "many")
    with pytest.raises(InvalidRequestError, match="OPENRFT_THREADS must be a whole number"):
        threads.chosen_threads()


def test_a_process_sleeps_its_waiting_threads_and_runs_one_inter_op_thread() -> None:
    script = (
        "import json, os\n"
        "from openrft import threads\n"
        "threads.prepare_environment()\n"
        "import torch\n"
        "threads.configure()\n"
        "print(json.dumps([os.environ['OMP_WAIT_POLICY'], torch.get_num_threads(),"
        " torch.get_num_interop_threads()]))\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "OMP_NUM_THREADS")}
    env[threads.ENV] = "2"
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1]) == ["PASSIVE", 2, 1]
    env["OMP_WAIT_POLICY"] = "ACTIVE"  # a user's own choice stands
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120
    )
    assert json.loads(done.stdout.strip().splitlines()[-1])[0] == "ACTIVE"


def test_a_small_model_runs_on_one_thread_unless_a_count_is_set(home: Path) -> None:
    script = (
        "import json, sys, torch\n"
        "from pathlib import Path\n"
        "from openrft.models.registry import load_model\n"
        "loaded = load_model('openrft-tiny', home=Path(sys.argv[1]), device='cpu')\n"
        "print(json.dumps(torch.get_num_threads()))\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", threads.ENV)}
    command = [sys.executable, "-c", script, str(home)]  # the session's warm openrft-tiny
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1]) == 1  # openrft-tiny: 0.5M params
    done = subprocess.run(
        command, env={**env, threads.ENV: "2"}, capture_output=True, text=True, timeout=300
    )
    assert json.loads(done.stdout.strip().splitlines()[-1]) == 2


def test_a_larger_model_gets_the_chosen_count(monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setenv(threads.ENV, "2")
    before = torch.get_num_threads()
    try:
        big = torch.nn.Linear(2_300, 2_300)  # 5.3M parameters
        assert threads.fit(big) == 2
        monkeypatch.delenv(threads.ENV)
        monkeypatch.setattr(threads, "usable_cores", lambda: 2)
        assert threads.fit(big) == 2
        assert threads.fit(torch.nn.Linear(4, 4)) == 1
    finally:
        torch.set_num_threads(before)
