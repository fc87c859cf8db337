"""A checkpoint written to a full disk (a real 4 MiB tmpfs for the job's workdir): the model
fits, the optimizer state does not, and torch's zip writer says so with a RuntimeError
("unexpected pos …"), not ENOSPC. The job still fails as `disk_full`, leaving no half
checkpoint behind."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.support.small_disk import small_disk

SCRIPT = """
import json, sys
from pathlib import Path
from openrft.train.runner import run_job
from tests.train.helpers import ListSink, demo_spec
workdir, home = Path(sys.argv[1]), Path(sys.argv[2])
outcome = run_job(demo_spec(1), workdir=workdir, home=home, events=ListSink())
left = sorted(p.name for p in (workdir / "checkpoints").iterdir())
print(json.dumps({"status": outcome.status, "error": outcome.error, "left": left}))
"""


def test_torch_save_on_a_full_disk_fails_the_job_as_disk_full(home: Path, tmp_path: Path) -> None:
    workdir = tmp_path / "job"
    child = small_disk(workdir, 4, [sys.executable, "-c", SCRIPT, str(workdir), str(home)],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
    out, err = child.communicate(timeout=300)
    assert child.returncode == 0, err.decode()[-3000:]
    result = json.loads(out.decode().strip().splitlines()[-1])
    assert result["status"] == "failed"
    assert result["error"]["code"] == "disk_full", result["error"]
    assert "no space left" in result["error"]["message"].lower()
    assert result["left"] == []  # no half-written step-1.tmp
