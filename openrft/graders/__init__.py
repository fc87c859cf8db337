"""The grader engine: OpenAI's grader JSON, validated and run (spec §3–§4, decisions G1–G10).

    validate_grader(dict)                      -> typed grader, or GraderValidationError (400)
    run_grader(grader, model_sample, item)     -> the exact `graders/run` response body
    grade_many(grader, rows)                   -> BatchReport (results, means, errors, latency)
                                                  report.results: a GradeColumn of GradeResult

Graders are pure functions of (grader, sample, item); sandboxes and clients are injected
through `GraderContext`. This package never imports torch.
"""

from openrft.graders.batch import BatchReport, RunningReport, agrade_many, grade_many, grade_stream
from openrft.graders.columns import paused_gc
from openrft.graders.context import GraderContext
from openrft.graders.engine import agrade, arun_grader, grade, is_sync, run_grader
from openrft.graders.graded import GradeColumn
from openrft.graders.result import ERROR_DETAILS, ERROR_FLAGS, GradeResult
from openrft.graders.sample import Sample
from openrft.graders.schema import AnyGrader, display_name, iter_templates
from openrft.graders.validation import validate_grader

__all__ = [
    "ERROR_DETAILS",
    "ERROR_FLAGS",
    "AnyGrader",
    "BatchReport",
    "GradeColumn",
    "GradeResult",
    "GraderContext",
    "RunningReport",
    "Sample",
    "agrade",
    "agrade_many",
    "arun_grader",
    "display_name",
    "grade",
    "grade_many",
    "grade_stream",
    "is_sync",
    "iter_templates",
    "paused_gc",
    "run_grader",
    "validate_grader",
]
