"""The real trainer (`openrft.train.runner.run_job`) with a hacked policy, for the job child
via `OPENRFT_JOB_RUNNER=tests.server.hacked_runner`: a scripted completer answers every
training sample but the first of each group with the row's reference and every validation
sample "wrong", so the train reward climbs to 0.75 while the validation reward stays 0."""

from __future__ import annotations

from typing import Any

from openrft.models.registry import LoadedModel
from openrft.train import runner
from openrft.train.outcome import JobOutcome
from openrft.train.spec import JobSpec
from tests.train.test_completer import ScriptedCompleter


def run_job(spec: JobSpec, **kwargs: Any) -> JobOutcome:
    rows = [*spec.training_rows, *(spec.validation_rows or [])]
    references = {str(row["messages"][-1]["content"]): row["reference"] for row in rows}

    def completer(loaded: LoadedModel) -> ScriptedCompleter:
        return ScriptedCompleter(loaded, references, lambda j: j != 0)

    return runner.run_job(spec, completer=completer, **kwargs)
