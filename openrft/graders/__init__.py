"""The grader engine: OpenAI's grader JSON, validated and run (spec §3–§4, decisions G1–G10).

    validate_grader(dict)                      -> typed grader, or GraderValidationError (400)
    run_grader(grader, model_sample, item)     -> the exact `graders/run` response body
    grade_many(grader, rows)                   -> BatchReport (results, means, errors, latency)
                                                  report.results: a GradeColumn of GradeResult

Graders are pure functions of (grader, sample, item); sandboxes and clients are injected
through `GraderContext`. This package never imports torch.

Everything other packages use is exported here (`__all__`); they import from `openrft.graders`,
never from its modules (tests/graders/test_exported_members.py checks both). Inside:

    schema, messages, validation, typos   the grader JSON and its 400s
    engine, batch, graded, columns/       grading one sample, many, a column at a time
    string_check, text_similarity, python, score_model, label_model, endpoint, multi, formula
                                          one per grader type (model_grader: the judges' share)
    judge/                                the judge client of the model graders
    endpoint_client                       the HTTP client of the endpoint graders
    template, sample, result, passing     templates, the model's answer, the grade, pass/fail
"""

from openrft.graders.batch import (
    DEFAULT_CONCURRENCY,
    BatchReport,
    RunningReport,
    agrade_many,
    grade_many,
    grade_stream,
    percentile,
)
from openrft.graders.columns import grade_columns, paused_gc
from openrft.graders.context import GraderContext
from openrft.graders.embeddings import EmbeddingsClient
from openrft.graders.engine import agrade, arun_grader, grade, is_sync, run_grader
from openrft.graders.graded import GradeColumn
from openrft.graders.judge import (
    EXTRAS_KEY,
    PROJECT_HEADER,
    JudgeBudget,
    JudgeClient,
    JudgeServerError,
    JudgeSettings,
)
from openrft.graders.passing import pass_line, passed
from openrft.graders.result import (
    ERROR_DETAILS,
    ERROR_FLAGS,
    EVENT_ERROR_FLAGS,
    GradeResult,
    failure,
    run_response,
    sum_usage,
)
from openrft.graders.sample import Sample, SampleParseError
from openrft.graders.schema import (
    AnyGrader,
    EndpointGrader,
    LabelModelGrader,
    MultiGrader,
    PythonGrader,
    ScoreModelGrader,
    StringCheckGrader,
    TextSimilarityGrader,
    display_name,
    iter_templates,
)
from openrft.graders.template import (
    Ref,
    VariableError,
    compile_template,
    parse_ref,
    render,
    to_text,
)
from openrft.graders.validation import validate_grader

__all__ = [
    "DEFAULT_CONCURRENCY",
    "ERROR_DETAILS",
    "ERROR_FLAGS",
    "EVENT_ERROR_FLAGS",
    "EXTRAS_KEY",
    "PROJECT_HEADER",
    "AnyGrader",
    "BatchReport",
    "EmbeddingsClient",
    "EndpointGrader",
    "GradeColumn",
    "GradeResult",
    "GraderContext",
    "JudgeBudget",
    "JudgeClient",
    "JudgeServerError",
    "JudgeSettings",
    "LabelModelGrader",
    "MultiGrader",
    "PythonGrader",
    "Ref",
    "RunningReport",
    "Sample",
    "SampleParseError",
    "ScoreModelGrader",
    "StringCheckGrader",
    "TextSimilarityGrader",
    "VariableError",
    "agrade",
    "agrade_many",
    "arun_grader",
    "compile_template",
    "display_name",
    "failure",
    "grade",
    "grade_columns",
    "grade_many",
    "grade_stream",
    "is_sync",
    "iter_templates",
    "parse_ref",
    "pass_line",
    "passed",
    "paused_gc",
    "percentile",
    "render",
    "run_grader",
    "run_response",
    "sum_usage",
    "to_text",
    "validate_grader",
]
