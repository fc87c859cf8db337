"""`endpoint` graders (Azure's agentic RFT): the user's own HTTP service gives the score.

The grader POSTs `{"sample": <the sample as a python grader sees it>, "item": <the whole row>,
"trace_id": "trace_<hex>"}` with the grader's `headers` and reads `{"score": <number>}`; the
reward is that number, unclamped. The trace id is the episode's, the one its tool calls
carried (`Sample.trace_id`), or a fresh one for a sample that came from no episode.

No score (after the client's retries, or a request too large to send) is an errored sample:
`unresponsive_reward_error` (OpenAI's flag for a grader that produced no reward), its reason in
`endpoint_grader_error_details` (shown in `graders/run`'s `metadata.errors` when set), free of
header values. The HTTP client is injected through
the context (`GraderContext.endpoint`); this module opens no socket.
"""

from __future__ import annotations

import json
import logging
import uuid
from typing import Any

from openrft.graders.context import GraderContext
from openrft.graders.endpoint_client import EndpointClient, EndpointError
from openrft.graders.result import GradeResult, failure
from openrft.graders.sample import Sample
from openrft.graders.schema import EndpointGrader, display_name

log = logging.getLogger(__name__)

FLAG = "unresponsive_reward_error"
DETAILS = "endpoint_grader_error_details"
"""The key of the failure's reason in the grade's `errors` (eval output items show it)."""


def request_body(sample: Sample, item: Any) -> bytes:
    """The JSON the endpoint receives (raises ValueError for a value JSON cannot carry)."""
    trace_id = sample.trace_id or f"trace_{uuid.uuid4().hex}"
    payload = {"sample": sample.as_dict(), "item": item, "trace_id": trace_id}
    return json.dumps(payload, ensure_ascii=False, allow_nan=False).encode("utf-8")


async def agrade(
    spec: EndpointGrader, sample: Sample, item: Any, ctx: GraderContext
) -> GradeResult:
    try:
        body = request_body(sample, item)
    except (TypeError, ValueError) as exc:
        return unresponsive(f"the sample or item cannot be sent as JSON: {exc}")
    try:
        score = await client_of(ctx).score(spec.url, spec.headers or {}, spec.rate_limit, body)
    except EndpointError as exc:
        log.warning("endpoint grader %r gave no score: %s", display_name(spec), exc.details)
        return unresponsive(exc.details)
    return GradeResult(score)


def unresponsive(details: str) -> GradeResult:
    return failure(FLAG, DETAILS, details)


def client_of(ctx: GraderContext) -> EndpointClient:
    """The context's endpoint client; made on first use and kept on the context's root."""
    root = ctx.root()
    if root.endpoint is None:
        root.endpoint = EndpointClient()
    return root.endpoint
