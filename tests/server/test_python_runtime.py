"""A python grader's `image_tag` over the API: a known tag runs on that runtime image (a grader
importing `ast_grep_py` scores instead of failing with load_error), an unknown one is a 400."""

from __future__ import annotations

import openai
import pytest
from openai import OpenAI

from tests.sandbox.test_runtimes import AST_GREP_GRADER
from tests.server.conftest import Live

CODE = (
    "```typescript\nconst customer = await stripe.customers.create({email});\n"
    "await stripe.subscriptions.create({customer: customer.id});\n```"
)
ITEM = {"required_calls": ["stripe.customers.create", "stripe.subscriptions.create"]}


def client(live: Live) -> OpenAI:
    return OpenAI(base_url=live.base_url, api_key="key-a", max_retries=0,
                  _strict_response_validation=True)  # fmt: skip


def test_an_unknown_image_tag_is_a_400_naming_the_known_tags(live: Live) -> None:
    grader = {"type": "python", "source": AST_GREP_GRADER, "image_tag": "2024-01-01"}
    with client(live) as sdk, pytest.raises(openai.BadRequestError) as caught:
        sdk.fine_tuning.alpha.graders.validate(grader=grader)  # type: ignore[arg-type]
    assert caught.value.param == "grader.image_tag"
    assert "2024-01-01" in caught.value.message and "2025-05-08" in caught.value.message


@pytest.mark.parametrize("tag", [{"image_tag": "2025-05-08"}, {}])
def test_an_ast_grep_grader_runs_on_the_image_through_the_server(live: Live, tag: dict) -> None:
    grader = {"type": "python", "name": "calls", "source": AST_GREP_GRADER, **tag}
    with client(live) as sdk:
        graders = sdk.fine_tuning.alpha.graders
        assert graders.validate(grader=grader).grader is not None  # type: ignore[arg-type]
        ran = graders.run(grader=grader, model_sample=CODE, item=ITEM)  # type: ignore[arg-type]
    errors = ran.metadata.errors
    assert not errors.python_grader_runtime_error, errors.python_grader_runtime_error_details
    assert not errors.python_grader_server_error, errors.python_grader_server_error_type
    assert ran.reward == 1.0
