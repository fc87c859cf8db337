"""Lease owners on one home: a live one holds its lock, a killed one is known gone at once."""

import signal
import subprocess
import sys
from pathlib import Path

from openrft.store.owners import OwnerLocks

HOLD = """
import sys, time
from pathlib import Path
from openrft.store.owners import OwnerLocks
OwnerLocks(Path(sys.argv[1])).hold(sys.argv[2])
print("held", flush=True)
time.sleep(600)
"""


def holder(home: Path, owner: str) -> subprocess.Popen[str]:
    child = subprocess.Popen([sys.executable, "-c", HOLD, str(home), owner],
                             stdout=subprocess.PIPE, text=True)  # fmt: skip
    assert child.stdout is not None and child.stdout.readline().strip() == "held"
    return child


def test_a_killed_owner_is_gone_a_live_one_and_a_stranger_are_not(tmp_path: Path) -> None:
    locks = OwnerLocks(tmp_path)
    locks.hold("me:1:aa")
    live, killed = holder(tmp_path, "host:2:bb"), holder(tmp_path, "host:3:cc")
    try:
        killed.send_signal(signal.SIGKILL)
        killed.communicate()
        everyone = {"me:1:aa", "host:2:bb", "host:3:cc", "elsewhere:4:dd"}
        assert locks.gone(everyone) == {"host:3:cc"}
        assert locks.gone(everyone) == set()  # its file went with the finding
    finally:
        live.kill()
        live.communicate()
    assert locks.gone({"host:2:bb"}) == {"host:2:bb"}
    locks.let_go("me:1:aa")
    assert locks.gone({"me:1:aa"}) == set()  # let go cleanly: no file, nothing to judge
