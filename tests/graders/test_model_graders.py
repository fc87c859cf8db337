"""score_model and label_model against a real Chat Completions server on loopback (issue 4)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from openrft.errors import BudgetExceededError
from openrft.graders import (
    GraderContext,
    JudgeBudget,
    JudgeClient,
    JudgeSettings,
    Sample,
    agrade,
    grade_many,
    run_grader,
    validate_grader,
)
from tests.graders.scripted_judge import JUDGE_MODEL, Reply, ScriptedJudge, rejects_response_format
from tests.support.loopback import free_port

SAMPLE = Sample.from_text("Paris")
ITEM = {"question": "Capital of France?", "answer": "Paris"}


def score_grader(**extra: Any) -> Any:
    spec = {
        "type": "score_model",
        "name": "judge",
        "model": "judge-mini",
        "input": [
            {"role": "developer", "content": "Score the answer against the reference."},
            {
                "role": "user",
                "content": "Q: {{item.question}} A: {{sample.output_text}} R: {{item.answer}}",
            },
        ],
    }
    return validate_grader({**spec, **extra})


def label_grader(**extra: Any) -> Any:
    spec = {
        "type": "label_model",
        "name": "labeler",
        "model": "judge-mini",
        "input": [{"role": "user", "content": "Is {{sample.output_text}} right?"}],
        "labels": ["correct", "partly", "wrong"],
        "passing_labels": ["correct", "partly"],
    }
    return validate_grader({**spec, **extra})


@pytest.fixture
def judge(server: tuple[ScriptedJudge, str]) -> ScriptedJudge:
    server[0].reset()
    return server[0]


def settings(server: tuple[ScriptedJudge, str], **overrides: Any) -> JudgeSettings:
    values: dict[str, Any] = {"base_url": server[1], "backoff_base": 0.01, "timeout": 5.0}
    return JudgeSettings(**{**values, **overrides})


@pytest.fixture
async def ctx(server: tuple[ScriptedJudge, str]) -> AsyncIterator[GraderContext]:
    context = GraderContext(judge=JudgeClient(settings(server)))
    yield context
    await context.judge.aclose()


async def test_valid_score_and_the_request_the_judge_sees(judge: ScriptedJudge, ctx: Any) -> None:
    judge.queue.append(Reply(result=0.75))
    params = {"seed": 7, "top_p": 0.9, "temperature": 0.2, "max_completions_tokens": 300}
    spec = score_grader(sampling_params={**params, "reasoning_effort": "low"})
    result = await agrade(spec, SAMPLE, ITEM, ctx)
    assert (result.reward, result.errors) == (0.75, None)
    assert result.sampled_model_name == JUDGE_MODEL
    usage = {"prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120, "cached_tokens": 7}
    assert result.usage_per_model == {JUDGE_MODEL: usage}
    [body] = judge.bodies
    assert body["messages"] == [  # rendered, in order, no system prompt added
        {"role": "developer", "content": "Score the answer against the reference."},
        {"role": "user", "content": "Q: Capital of France? A: Paris R: Paris"},
    ]
    assert (body["model"], body["seed"], body["top_p"], body["temperature"]) == (
        "judge-mini",
        7,
        0.9,
        0.2,
    )
    assert (body["max_completion_tokens"], body["reasoning_effort"]) == (300, "low")
    assert "max_completions_tokens" not in body
    fmt = body["response_format"]
    assert fmt["type"] == "json_schema" and fmt["json_schema"]["strict"] is True
    assert fmt["json_schema"]["name"] == "float_score_classification"
    schema = fmt["json_schema"]["schema"]
    assert schema["required"] == ["steps", "result"] and schema["additionalProperties"] is False
    assert schema["properties"]["result"]["type"] == "number"
    assert schema["properties"]["steps"]["items"]["required"] == ["description", "conclusion"]


async def test_image_and_audio_parts_pass_through(judge: ScriptedJudge, ctx: Any) -> None:
    content = [
        {"type": "input_text", "text": "Grade {{sample.output_text}}"},
        {"type": "input_image", "image_url": "{{item.image}}", "detail": "low"},
        {"type": "input_audio", "input_audio": {"data": "{{item.audio}}", "format": "wav"}},
    ]
    spec = score_grader(input=[{"role": "user", "content": content, "type": "message"}])
    item = {"image": "https://example.test/cat.png", "audio": "UklGRg=="}
    result = await agrade(spec, SAMPLE, item, ctx)
    assert result.errors is None
    assert judge.bodies[0]["messages"][0]["content"] == [
        {"type": "text", "text": "Grade Paris"},
        {
            "type": "image_url",
            "image_url": {"url": "https://example.test/cat.png", "detail": "low"},
        },
        {"type": "input_audio", "input_audio": {"data": "UklGRg==", "format": "wav"}},
    ]


@pytest.mark.parametrize(
    ("bounds", "said", "reward"),
    [
        (None, 1.7, 1.0),
        (None, -0.3, 0.0),
        ([0, 10], 12, 10.0),
        ([-1, 1], -4, -1.0),
        ([0, 10], "6.5", 6.5),
    ],
)
async def test_result_is_clamped_to_range(
    judge: ScriptedJudge, ctx: Any, bounds: Any, said: Any, reward: float
) -> None:
    judge.queue.append(Reply(result=said))
    spec = score_grader(range=bounds) if bounds else score_grader()
    result = await agrade(spec, SAMPLE, ITEM, ctx)
    assert (result.reward, result.errors) == (reward, None)
    described = judge.bodies[0]["response_format"]["json_schema"]["schema"]["properties"]["result"]
    assert f"[{(bounds or [0, 1])[0]:g}, {(bounds or [0, 1])[1]:g}]" in described["description"]


@pytest.mark.parametrize(
    "reply",
    [
        Reply(content="I think it deserves a 7."),
        Reply(content='{"steps": [], "score": 0.5}'),
        Reply(result="high"),
        Reply(result=None),
        Reply(result=True),
        Reply(content='{"steps": [], "result": NaN}'),
        Reply(content='{"steps": [], "result": 1e999}'),
        Reply(content='{"steps": [{"description": "cut off'),
    ],
)
async def test_unparsable_answers_are_parse_errors(
    judge: ScriptedJudge, ctx: Any, reply: Reply
) -> None:
    judge.queue.append(reply)
    result = await agrade(score_grader(), SAMPLE, ITEM, ctx)
    assert result.reward == 0.0
    assert result.errors == {"model_grader_parse_error": True}
    assert result.detail
    assert (
        result.usage_per_model is not None
        and result.usage_per_model[JUDGE_MODEL]["total_tokens"] == 120
    )


@pytest.mark.parametrize(
    "reply",
    [
        Reply(refusal="I can't help with grading that."),
        Reply(result=1.0, finish_reason="content_filter"),
    ],
)
async def test_refusals(judge: ScriptedJudge, ctx: Any, reply: Reply) -> None:
    judge.queue.append(reply)
    result = await agrade(score_grader(), SAMPLE, ITEM, ctx)
    assert (result.reward, result.errors) == (0.0, {"model_grader_refusal_error": True})
    assert result.detail is not None and "refused" in result.detail


async def test_server_errors_are_retried_then_succeed(judge: ScriptedJudge, ctx: Any) -> None:
    judge.queue += [Reply(status=500), Reply(status=503), Reply(result=0.9)]
    result = await agrade(score_grader(), SAMPLE, ITEM, ctx)
    assert (result.reward, result.errors) == (0.9, None)
    assert len(judge.requests) == 3 and ctx.judge.requests == 3


async def test_server_error_after_retries(judge: ScriptedJudge, server: Any) -> None:
    judge.handler = lambda body: Reply(status=502, error="bad gateway")
    ctx = GraderContext(judge=JudgeClient(settings(server, max_retries=2)))
    result = await agrade(score_grader(), SAMPLE, ITEM, ctx)
    await ctx.aclose()
    assert result.reward == 0.0 and result.errors is not None
    assert result.errors["model_grader_server_error"] is True
    details = result.errors["model_grader_server_error_details"]
    assert "HTTP 502" in details and "bad gateway" in details and "3 attempts" in details
    assert len(judge.requests) == 3 and result.usage_per_model is None


async def test_client_errors_are_not_retried(judge: ScriptedJudge, ctx: Any) -> None:
    judge.queue.append(Reply(result=0.5))  # a first structured call succeeds...
    await agrade(score_grader(), SAMPLE, ITEM, ctx)
    judge.handler = lambda body: Reply(status=404, error="model judge-mini does not exist")
    result = await agrade(score_grader(), SAMPLE, ITEM, ctx)  # ...so a 404 is final, no fallback
    assert (
        result.errors is not None
        and "HTTP 404" in result.errors["model_grader_server_error_details"]
    )
    assert len(judge.requests) == 2 and "response_format" in judge.bodies[1]


@pytest.mark.parametrize(
    ("header", "value", "wait"), [("retry-after-ms", "400", 0.4), ("retry-after", "0.5", 0.5)]
)
async def test_429_honours_retry_after(
    judge: ScriptedJudge, ctx: Any, header: str, value: str, wait: float
) -> None:
    judge.queue += [
        Reply(status=429, error="slow down", headers={header: value}),
        Reply(result=1.0),
    ]
    result = await agrade(score_grader(), SAMPLE, ITEM, ctx)
    assert (result.reward, result.errors) == (1.0, None)
    (first, _), (second, _) = judge.requests
    assert wait - 0.02 <= second - first < wait + 1.0  # backoff alone would be ~0.01 s


async def test_slow_judge_times_out(judge: ScriptedJudge, server: Any) -> None:
    judge.handler = lambda body: Reply(delay=1.5)
    ctx = GraderContext(judge=JudgeClient(settings(server, timeout=0.2, max_retries=1)))
    result = await agrade(score_grader(), SAMPLE, ITEM, ctx)
    await ctx.aclose()
    assert result.errors is not None and result.errors["model_grader_server_error"] is True
    assert "timed out after 0.2 s" in result.errors["model_grader_server_error_details"]
    assert len(judge.requests) == 2 and result.execution_time < 1.2


async def test_unreachable_judge_is_a_server_error() -> None:
    url = f"http://127.0.0.1:{free_port()}/v1"
    ctx = GraderContext(
        judge=JudgeClient(JudgeSettings(base_url=url, max_retries=1, backoff_base=0.01))
    )
    result = await agrade(score_grader(), SAMPLE, ITEM, ctx)
    await ctx.aclose()
    assert result.errors is not None and result.errors["model_grader_server_error"] is True
    assert "could not reach the judge" in result.errors["model_grader_server_error_details"]


async def test_judge_without_structured_outputs_gets_the_schema_in_a_message(
    judge: ScriptedJudge, ctx: Any
) -> None:
    judge.handler = rejects_response_format(
        'Sure! ```json\n{"steps": [], "result": 0.4}\n``` Hope it helps.'
    )
    first = await agrade(score_grader(), SAMPLE, ITEM, ctx)
    second = await agrade(score_grader(), SAMPLE, ITEM, ctx)
    assert (first.reward, first.errors, second.reward, second.errors) == (0.4, None, 0.4, None)
    assert ["response_format" in body for body in judge.bodies] == [
        True,
        False,
        False,
    ]  # remembered
    last = judge.bodies[1]["messages"][-1]
    assert last["role"] == "user" and "float_score_classification" not in last["content"]
    assert json.loads(last["content"].split("\n", 1)[1])["required"] == ["steps", "result"]
    assert len(judge.bodies[1]["messages"]) == 3


async def test_any_400_on_the_first_structured_call_tries_the_fallback(
    judge: ScriptedJudge, ctx: Any
) -> None:
    judge.queue += [Reply(status=400, error="unknown field"), Reply(content='{"result": 1}')]
    result = await agrade(score_grader(), SAMPLE, ITEM, ctx)
    assert (result.reward, result.errors) == (1.0, None)
    assert ["response_format" in body for body in judge.bodies] == [True, False]


async def test_a_failed_fallback_is_a_server_error(judge: ScriptedJudge, ctx: Any) -> None:
    judge.handler = lambda body: Reply(status=400, error="model not found")
    result = await agrade(score_grader(), SAMPLE, ITEM, ctx)
    assert (
        result.errors is not None
        and "model not found" in result.errors["model_grader_server_error_details"]
    )
    assert len(judge.requests) == 2 and ctx.judge.structured == {}  # not marked as lacking


async def test_a_failed_fallback_reports_both_answers_and_blames_no_schema(
    judge: ScriptedJudge, ctx: Any, caplog: pytest.LogCaptureFixture
) -> None:
    judge.handler = lambda body: Reply(status=400, error="model not found")
    result = await agrade(score_grader(), SAMPLE, ITEM, ctx)
    details = (result.errors or {})["model_grader_server_error_details"]
    assert "without response_format: judge answered HTTP 400: model not found" in details
    assert "refused response_format" not in caplog.text


async def test_a_400_naming_another_parameter_is_final_without_a_fallback(
    judge: ScriptedJudge, ctx: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """A judge that rejects `reasoning_effort` rejects it in the fallback too: one request,
    and the error says what the judge said."""
    judge.handler = lambda body: Reply(
        status=400, error="Unrecognized request argument supplied: reasoning_effort",
        param="reasoning_effort")  # fmt: skip
    spec = score_grader(sampling_params={"reasoning_effort": "low"})
    result = await agrade(spec, SAMPLE, ITEM, ctx)
    details = (result.errors or {})["model_grader_server_error_details"]
    assert "reasoning_effort" in details and len(judge.requests) == 1
    assert judge.bodies[0]["reasoning_effort"] == "low"
    assert "response_format" not in caplog.text


@pytest.mark.parametrize(("label", "reward"), [("correct", 1.0), ("partly", 1.0), ("wrong", 0.0)])
async def test_label_model(judge: ScriptedJudge, ctx: Any, label: str, reward: float) -> None:
    judge.queue.append(Reply(result=label))
    result = await agrade(label_grader(), SAMPLE, ITEM, ctx)
    assert (result.reward, result.errors, result.label) == (reward, None, label)
    fmt = judge.bodies[0]["response_format"]["json_schema"]
    assert fmt["strict"] is True
    assert fmt["schema"]["properties"]["result"]["enum"] == ["correct", "partly", "wrong"]
    assert fmt["schema"]["additionalProperties"] is False


@pytest.mark.parametrize("label", ["Correct", "maybe", " correct", 1])
async def test_label_outside_labels_is_a_parse_error(
    judge: ScriptedJudge, ctx: Any, label: Any
) -> None:
    judge.queue.append(Reply(result=label))
    result = await agrade(label_grader(), SAMPLE, ITEM, ctx)
    assert (result.reward, result.errors, result.label) == (
        0.0,
        {"model_grader_parse_error": True},
        None,
    )


async def test_label_model_sampling_params_and_fallback(judge: ScriptedJudge, ctx: Any) -> None:
    judge.handler = rejects_response_format('{"steps": [], "result": "wrong"}')
    spec = label_grader(sampling_params={"max_tokens": 50, "seed": 1})
    result = await agrade(spec, SAMPLE, ITEM, ctx)
    assert (result.reward, result.errors, result.label) == (0.0, None, "wrong")
    assert judge.bodies[1]["max_completion_tokens"] == 50 and judge.bodies[1]["seed"] == 1


async def test_seeded_requests_are_cached(judge: ScriptedJudge, ctx: Any) -> None:
    judge.handler = lambda body: Reply(result=0.6)
    spec = score_grader(sampling_params={"seed": 42})
    first = await agrade(spec, SAMPLE, ITEM, ctx)
    second = await agrade(spec, SAMPLE, ITEM, ctx)
    assert len(judge.requests) == 1  # the second grade made no HTTP request
    assert (first.reward, second.reward, second.errors) == (0.6, 0.6, None)
    zero = {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0, "cached_tokens": 0}
    assert (
        second.usage_per_model == {JUDGE_MODEL: zero} and second.sampled_model_name == JUDGE_MODEL
    )
    await agrade(spec, Sample.from_text("Lyon"), ITEM, ctx)  # another sample is another request
    await agrade(
        score_grader(sampling_params={"seed": 43}), SAMPLE, ITEM, ctx
    )  # so is another seed
    assert len(judge.requests) == 3


@pytest.mark.parametrize(
    ("mode", "seed", "requests"), [("auto", None, 2), ("on", None, 1), ("off", 42, 2)]
)
async def test_cache_setting(
    judge: ScriptedJudge, server: Any, mode: str, seed: int | None, requests: int
) -> None:
    ctx = GraderContext(judge=JudgeClient(settings(server, cache=mode)))
    spec = score_grader(sampling_params={"seed": seed})
    for _ in range(2):
        await agrade(spec, SAMPLE, ITEM, ctx)
    await ctx.aclose()
    assert len(judge.requests) == requests


async def test_failed_answers_are_not_cached(judge: ScriptedJudge, ctx: Any) -> None:
    judge.queue += [Reply(content="no idea"), Reply(result=0.3)]
    spec = score_grader(sampling_params={"seed": 1})
    assert (await agrade(spec, SAMPLE, ITEM, ctx)).errors == {"model_grader_parse_error": True}
    assert (await agrade(spec, SAMPLE, ITEM, ctx)).reward == 0.3
    assert len(judge.requests) == 2


def test_budget_exceeded_stops_grade_many(judge: ScriptedJudge, server: Any) -> None:
    judge.handler = lambda body: Reply(result=1.0, usage=(80, 20))
    seen: list[int] = []
    job = JudgeBudget(10_000, name="job")
    run = JudgeBudget(250, parent=job, on_usage=lambda budget: seen.append(budget.used))
    ctx = GraderContext(
        judge=JudgeClient(settings(server, concurrency=1)), extras={"judge_budget": run}
    )
    rows = [(f"answer {i}", ITEM) for i in range(10)]
    with pytest.raises(BudgetExceededError, match="judge token budget of the grading run exceeded"):
        grade_many(score_grader(), rows, context=ctx, concurrency=1)
    assert seen == [100, 200, 300] and job.used == 300
    assert len(judge.requests) == 3  # the run stopped; the other 7 rows never reached the judge


def test_budget_from_settings_is_per_run(judge: ScriptedJudge, server: Any) -> None:
    judge.handler = lambda body: Reply(result=1.0, usage=(80, 20))
    client = JudgeClient(settings(server, max_tokens=200))
    report = grade_many(
        score_grader(), [("a", ITEM), ("b", ITEM)], context=GraderContext(judge=client)
    )
    assert report.error_counts() == {} and report.summary()["token_usage"]["total_tokens"] == 200
    with pytest.raises(BudgetExceededError):
        grade_many(score_grader(), [("c", ITEM)] * 3, context=GraderContext(judge=client))


def test_run_grader_response_and_default_judge_from_env(
    judge: ScriptedJudge, server: Any, monkeypatch: Any
) -> None:
    monkeypatch.setenv("OPENRFT_JUDGE_BASE_URL", server[1])
    judge.queue.append(Reply(result=0.8, usage=(190, 134)))
    ctx = GraderContext()
    body = run_grader(score_grader().model_dump(exclude_none=True), "Paris", ITEM, context=ctx)
    assert isinstance(ctx.judge, JudgeClient) and ctx.judge.settings.base_url == server[1]
    usage = {
        "prompt_tokens": 190,
        "completion_tokens": 134,
        "total_tokens": 324,
        "cached_tokens": 7,
    }
    assert body["reward"] == 0.8
    assert body["model_grader_token_usage_per_model"] == {JUDGE_MODEL: usage}
    assert body["metadata"]["token_usage"] == usage
    assert body["metadata"]["sampled_model_name"] == JUDGE_MODEL
    assert not any(value for value in body["metadata"]["errors"].values())


def test_judge_inside_multi_with_grade_many(judge: ScriptedJudge, server: Any) -> None:
    judge.handler = lambda body: Reply(result=0.5)
    grader = {
        "type": "multi",
        "graders": {
            "exact": {
                "type": "string_check",
                "input": "{{sample.output_text}}",
                "reference": "{{item.answer}}",
                "operation": "eq",
            },
            "judge": score_grader().model_dump(exclude_none=True),
        },
        "calculate_output": "0.5 * exact + 0.5 * judge",
    }
    ctx = GraderContext(judge=JudgeClient(settings(server)))
    report = grade_many(grader, [("Paris", ITEM), ("Lyon", ITEM)], context=ctx)
    assert [r.reward for r in report.results] == [0.75, 0.25]
    assert report.results[0].sub_rewards == {"exact": 1.0, "judge": 0.5}
    assert report.summary()["token_usage"]["total_tokens"] == 240


async def test_unresolved_template_never_reaches_the_judge(judge: ScriptedJudge, ctx: Any) -> None:
    spec = score_grader(input=[{"role": "user", "content": "{{item.missing}}"}])
    result = await agrade(spec, SAMPLE, ITEM, ctx)
    assert result.errors == {"invalid_variable_error": True} and judge.requests == []


def test_judge_concurrency_limit_holds_under_a_wider_engine(
    judge: ScriptedJudge, server: Any
) -> None:
    judge.handler = lambda body: Reply(result=1.0, delay=0.2)
    client = JudgeClient(settings(server, concurrency=3))
    report = grade_many(
        score_grader(),
        [(f"a{i}", ITEM) for i in range(12)],
        context=GraderContext(judge=client),
        concurrency=16,
    )
    assert report.error_counts() == {}, report.results[0].detail
    assert 2 <= judge.max_in_flight <= 3  # 3 unless the host stalls us for 0.2 s
    assert report.elapsed >= 0.75  # 12 rows, at most 3 at a time, 0.2 s each


def test_one_client_serves_many_runs_and_closes_with_each_loop(
    judge: ScriptedJudge, server: Any
) -> None:
    client = JudgeClient(settings(server))
    for _ in range(3):  # each grade_many is a fresh asyncio.run: a fresh pool, closed after
        report = grade_many(score_grader(), [("a", ITEM)] * 4, context=GraderContext(judge=client))
        assert report.error_counts() == {}
        assert len(client._loops) == 0


def test_settings_from_env(monkeypatch: Any) -> None:
    for name, value in {
        "BASE_URL": "http://judge.test/v1",
        "API_KEY": "sk-x",
        "CONCURRENCY": "4",
        "TIMEOUT": "2.5",
        "MAX_RETRIES": "1",
        "CACHE": "off",
        "MAX_TOKENS": "5000",
    }.items():
        monkeypatch.setenv(f"OPENRFT_JUDGE_{name}", value)
    got = JudgeSettings.from_env()
    assert (got.base_url, got.api_key, got.concurrency, got.timeout) == (
        "http://judge.test/v1",
        "sk-x",
        4,
        2.5,
    )
    assert (got.max_retries, got.cache, got.max_tokens) == (1, "off", 5000)
    monkeypatch.setenv("OPENRFT_JUDGE_CONCURRENCY", "many")
    with pytest.raises(ValueError, match="OPENRFT_JUDGE_CONCURRENCY must be a number"):
        JudgeSettings.from_env()


def test_defaults_point_at_the_openrft_server(monkeypatch: Any) -> None:
    for name in ("BASE_URL", "CONCURRENCY", "TIMEOUT", "CACHE", "MAX_TOKENS"):
        monkeypatch.delenv(f"OPENRFT_JUDGE_{name}", raising=False)
    got = JudgeSettings.from_env()
    assert (got.base_url, got.concurrency, got.timeout, got.cache, got.max_tokens) == (
        "http://127.0.0.1:8000/v1",
        32,
        60.0,
        "auto",
        None,
    )


@pytest.mark.parametrize(
    ("headers", "wait"),
    [
        ({"retry-after-ms": "250"}, 0.25),
        ({"retry-after": "3"}, 3.0),
        ({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}, 0.0),
        ({"retry-after": "soon"}, None),
        ({}, None),
        ({"retry-after": "99999"}, 120.0),
    ],
)
def test_retry_after_header(headers: dict[str, str], wait: float | None) -> None:
    from openrft.graders.judge.http import retry_after

    assert retry_after(headers) == wait


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ('{"result": 1}', {"result": 1}),
        ('Here you go: {"result": 2} and {"result": 3}', {"result": 2}),
        ('[1, 2] {bad {"result": 4}', {"result": 4}),
        ("[1, 2]", None),
        ("", None),
    ],
)
def test_first_json_object(text: str, found: Any) -> None:
    from openrft.graders.judge.wire import first_json_object

    assert first_json_object(text) == found


async def test_a_body_that_is_not_a_completion(judge: ScriptedJudge, ctx: Any) -> None:
    judge.queue.append(Reply(raw="<html>gateway says hi</html>"))
    result = await agrade(score_grader(), SAMPLE, ITEM, ctx)
    assert result.errors is not None and result.errors["model_grader_server_error"] is True
    assert "not a JSON object" in result.errors["model_grader_server_error_details"]
    assert len(judge.requests) == 1  # not retried: asking again will not help
    judge.queue.append(Reply(raw='{"id": "x", "object": "chat.completion", "choices": []}'))
    result = await agrade(score_grader(), SAMPLE, ITEM, ctx)
    assert result.errors == {"model_grader_parse_error": True}
    assert result.sampled_model_name == "judge-mini"  # the model we asked for, as none was named


async def test_disk_cache_survives_the_client(
    judge: ScriptedJudge, server: Any, tmp_path: Any
) -> None:
    judge.handler = lambda body: Reply(result=0.7)
    path = tmp_path / "home" / "judge-cache.sqlite"
    spec = score_grader(sampling_params={"seed": 5})
    other_name = server[1].replace("127.0.0.1", "localhost")  # same judge, another endpoint name
    results = []
    for url in (server[1], server[1], other_name):  # a new client each time, as a new process would
        client = JudgeClient(settings(server, base_url=url, cache_file=str(path)))
        results.append(await agrade(spec, SAMPLE, ITEM, GraderContext(judge=client)))
        await client.aclose()
        assert client.disk is not None
        client.disk.close()
    assert [r.reward for r in results] == [0.7, 0.7, 0.7] and all(r.ok for r in results)
    assert len(judge.requests) == 2  # the second client answered from the file
    assert results[1].usage_per_model == {
        JUDGE_MODEL: {
            "prompt_tokens": 0,
            "completion_tokens": 0,
            "total_tokens": 0,
            "cached_tokens": 0,
        }
    }
    assert JudgeClient(settings(server, cache_file=str(path), cache="off")).disk is None


async def test_misconfigured_judge_is_a_server_error(
    judge: ScriptedJudge, monkeypatch: Any
) -> None:
    monkeypatch.setenv("OPENRFT_JUDGE_TIMEOUT", "soon")
    ctx = GraderContext()
    result = await agrade(score_grader(), SAMPLE, ITEM, ctx)
    assert result.errors is not None and result.errors["model_grader_server_error"] is True
    assert (
        "OPENRFT_JUDGE_TIMEOUT must be a number"
        in result.errors["model_grader_server_error_details"]
    )
    assert judge.requests == []


def test_model_graders_import_no_sdk_until_a_judge_is_asked() -> None:
    import subprocess
    import sys

    code = "import sys, openrft.graders.score_model, openrft.graders.label_model; print('openai' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
