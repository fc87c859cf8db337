import json
from pathlib import Path

import pytest

from openrft.train.checkpoints import CheckpointStore, CorruptCheckpoint, verify


def write(folder: Path) -> None:
    (folder / "model").mkdir()
    (folder / "model" / "weights.bin").write_bytes(b"w" * 100)


def save(store: CheckpointStore, step: int, reward: float | None) -> None:
    store.save(step, {"step": step, "metrics": {"valid_reward_mean": reward}}, write)


def test_save_writes_a_manifest_that_verifies(tmp_path: Path) -> None:
    store = CheckpointStore(tmp_path)
    save(store, 3, 0.5)
    manifest = verify(tmp_path / "step-3")
    assert manifest["step"] == 3
    assert set(manifest["files"]) == {"model/weights.bin", "state.json"}
    entry = manifest["files"]["model/weights.bin"]
    assert entry["size"] == 100 and len(entry["sha256"]) == 64
    assert not list(tmp_path.glob("*.tmp"))


@pytest.mark.parametrize("damage", ["truncate", "flip", "zero", "delete_manifest"])
def test_a_damaged_checkpoint_falls_back_to_the_previous(tmp_path: Path, damage: str) -> None:
    store = CheckpointStore(tmp_path)
    save(store, 1, 0.1)
    save(store, 2, 0.2)
    weights = tmp_path / "step-2" / "model" / "weights.bin"
    if damage == "truncate":
        weights.write_bytes(b"w" * 50)
    elif damage == "flip":
        weights.write_bytes(b"x" + b"w" * 99)
    elif damage == "zero":
        weights.write_bytes(b"")
    else:
        (tmp_path / "step-2" / "manifest.json").unlink()
    with pytest.raises(CorruptCheckpoint):
        verify(tmp_path / "step-2")
    latest = store.latest()
    assert latest is not None and latest.step == 1
    assert not (tmp_path / "step-2").exists()


def test_a_save_killed_midway_leaves_a_tmp_dir_that_is_ignored_and_removed(tmp_path: Path) -> None:
    store = CheckpointStore(tmp_path)
    save(store, 1, 0.1)
    half = tmp_path / "step-2.tmp"
    half.mkdir()
    (half / "state.json").write_text(json.dumps({"step": 2}))
    latest = CheckpointStore(tmp_path).latest()
    assert latest is not None and latest.step == 1
    assert not half.exists()


def test_retention_keeps_the_best_three_and_the_newest(tmp_path: Path) -> None:
    store = CheckpointStore(tmp_path)
    for step, reward in [(1, 0.9), (2, 0.1), (3, 0.8), (4, 0.2), (5, 0.7), (6, 0.05)]:
        save(store, step, reward)
    kept = store.retain(3)
    assert [c.step for c in kept] == [1, 3, 5, 6]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["step-1", "step-3", "step-5", "step-6"]
