import json
from pathlib import Path

import pytest

from openrft.cli.train import load_job
from openrft.errors import DataFileError, InvalidRequestError
from tests.train.helpers import demo_method


def job_file(folder: Path, **extra: object) -> Path:
    row = {"messages": [{"role": "user", "content": "sort 21:"}], "reference": "12"}
    (folder / "train.jsonl").write_text(json.dumps(row) + "\n")
    body = {
        "model": "openrft-tiny",
        "training_file": "train.jsonl",
        "method": demo_method(),
        **extra,
    }
    (folder / "job.json").write_text(json.dumps(body))
    return folder / "job.json"


def test_a_job_file_reads_its_rows_relative_to_itself(tmp_path: Path) -> None:
    spec = load_job(job_file(tmp_path, suffix="x", settings={"lora_rank": 2}))
    assert spec.training_rows[0]["reference"] == "12" and spec.validation_rows is None
    assert spec.id.startswith("ftjob-") and spec.id == load_job(tmp_path / "job.json").id
    assert spec.settings.lora_rank == 2 and spec.suffix == "x"


def test_a_bad_job_file_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(InvalidRequestError, match="trainig_file"):
        load_job(job_file(tmp_path, trainig_file="typo"))
    (tmp_path / "empty.json").write_text("{}")
    with pytest.raises(InvalidRequestError, match="`training_file`: missing"):
        load_job(tmp_path / "empty.json")
    with pytest.raises(InvalidRequestError, match=r"`settings\.devices`: .*CUDA_VISIBLE_DEVICES"):
        load_job(job_file(tmp_path, settings={"devices": [0]}))
    (tmp_path / "list.json").write_text("[]")
    with pytest.raises(DataFileError):
        load_job(tmp_path / "list.json")
