"""What `score_model` and `label_model` share (decisions G4–G6): render the input messages,
ask the judge, and turn its reply into a grade or exactly one `model_grader_*` flag.

The rendered messages go to the judge as they are: no extra system prompt. Text parts are
templated; image and audio parts become Chat Completions content parts. A template that does
not resolve is an `invalid_variable_error`, as for every other grader.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable
from typing import Any

from openrft.graders.context import GraderContext
from openrft.graders.judge.budget import EXTRAS_KEY, JudgeBudget, budget_of
from openrft.graders.judge.client import JudgeClient, JudgeServerError, judge_of
from openrft.graders.judge.wire import JudgeReply, first_json_object
from openrft.graders.judge.wire import response_format as named_format
from openrft.graders.messages import InputImage, InputMessage, InputText, SamplingParams
from openrft.graders.result import GradeResult, failure
from openrft.graders.sample import Sample, SampleParseError
from openrft.graders.template import VariableError, compile_template

log = logging.getLogger(__name__)
Interpret = Callable[[dict[str, Any]], GradeResult]
STEPS_SCHEMA: dict[str, Any] = {
    "type": "array",
    "description": "The reasoning steps that lead to the result.",
    "items": {
        "type": "object",
        "properties": {"description": {"type": "string"}, "conclusion": {"type": "string"}},
        "required": ["description", "conclusion"],
        "additionalProperties": False,
    },
}


def judge_format(name: str, result: dict[str, Any]) -> dict[str, Any]:
    """The strict `{"steps": [...], "result": ...}` response format both model graders use."""
    schema = {
        "type": "object",
        "properties": {"steps": STEPS_SCHEMA, "result": result},
        "required": ["steps", "result"],
        "additionalProperties": False,
    }
    return named_format(name, schema)


async def agrade_with_judge(
    spec: Any,
    sample: Sample,
    item: Any,
    ctx: GraderContext,
    response_format: dict[str, Any],
    interpret: Interpret,
) -> GradeResult:
    """Ask the judge `spec.model` about one sample; only `BudgetExceededError` escapes."""
    try:
        body = request_body(spec, sample, item, response_format)
    except VariableError as exc:
        return _noted(failure("invalid_variable_error"), str(exc))
    except SampleParseError as exc:
        return _noted(failure("sample_parse_error"), str(exc))
    try:
        judge = judge_of(ctx)
        reply = await judge.complete(body, _run_budget(ctx, judge), ctx.project)
    except JudgeServerError as exc:
        log.warning("judge %s failed: %s", spec.model, exc.details)
        return server_error(exc.details)
    except (ValueError, OSError, sqlite3.Error) as exc:  # settings or cache file unusable
        log.error("judge client could not be set up: %s", exc)
        return server_error(f"judge client could not be set up: {exc}")
    result = grade_reply(reply, interpret)
    if result.ok:
        judge.remember(reply)
    return result


def grade_reply(reply: JudgeReply, interpret: Interpret) -> GradeResult:
    """A refusal, an unparsable answer, or whatever `interpret` makes of the JSON object."""
    if reply.refusal or reply.finish_reason == "content_filter":
        reason = reply.refusal or "finish_reason content_filter"
        result = _noted(failure("model_grader_refusal_error"), f"the judge refused: {reason}")
    else:
        answer = first_json_object(reply.content or "")
        if answer is None:
            result = parse_error(
                f"judge reply is not a JSON object: {(reply.content or '')[:200]!r}"
            )
        else:
            result = interpret(answer)
    result.usage_per_model = reply.usage_per_model()
    result.sampled_model_name = reply.model
    return result


def server_error(details: str) -> GradeResult:
    return failure("model_grader_server_error", "model_grader_server_error_details", details)


def parse_error(detail: str) -> GradeResult:
    return _noted(failure("model_grader_parse_error"), detail)


def _noted(result: GradeResult, detail: str) -> GradeResult:
    result.detail = detail
    return result


def _run_budget(ctx: GraderContext, judge: JudgeClient) -> JudgeBudget | None:
    budget = budget_of(ctx)
    limit = getattr(getattr(judge, "settings", None), "max_tokens", None)
    if budget is None and limit is not None:
        budget = ctx.extras[EXTRAS_KEY] = JudgeBudget(limit)
    return budget


def request_body(
    spec: Any, sample: Sample, item: Any, response_format: dict[str, Any]
) -> dict[str, Any]:
    """The Chat Completions request for one sample (structured; see `judge.wire.fallback_body`)."""
    messages = [render_message(message, sample, item) for message in spec.input]
    body = {"model": spec.model, "messages": messages, "response_format": response_format}
    body.update(sampling_kwargs(spec.sampling_params))
    return body


def sampling_kwargs(params: SamplingParams | None) -> dict[str, Any]:
    """OpenAI's grader `sampling_params` as Chat Completions parameters (G4 spelling fix)."""
    if params is None:
        return {}
    mapped = {
        "seed": params.seed,
        "top_p": params.top_p,
        "temperature": params.temperature,
        "max_completion_tokens": params.max_completions_tokens,
        "reasoning_effort": params.reasoning_effort,
    }
    return {key: value for key, value in mapped.items() if value is not None}


def render_message(message: InputMessage, sample: Sample, item: Any) -> dict[str, Any]:
    content = message.content
    if isinstance(content, str):
        rendered: Any = _text(content, sample, item)
    elif isinstance(content, InputText):
        rendered = _text(content.text, sample, item)
    else:
        parts = content if isinstance(content, list) else [content]
        rendered = [render_part(part, sample, item) for part in parts]
    return {"role": message.role, "content": rendered}


def render_part(part: Any, sample: Sample, item: Any) -> dict[str, Any]:
    """One content item as a Chat Completions content part."""
    if isinstance(part, str):
        return {"type": "text", "text": _text(part, sample, item)}
    if isinstance(part, InputText):
        return {"type": "text", "text": _text(part.text, sample, item)}
    if isinstance(part, InputImage):
        image: dict[str, Any] = {"url": _text(part.image_url, sample, item)}
        if part.detail is not None:
            image["detail"] = part.detail
        return {"type": "image_url", "image_url": image}
    audio = part.input_audio
    data = _text(audio.data, sample, item)
    return {"type": "input_audio", "input_audio": {"data": data, "format": audio.format}}


def _text(template: str, sample: Sample, item: Any) -> str:
    return compile_template(template).render(sample, item)
