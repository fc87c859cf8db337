"""Every list route answers OpenAI's list envelope, with its keys in OpenAI's order, built by
one function (`openrft.server.lists`): pages with `first_id`/`last_id` (files, checkpoints,
evals, runs, output items, reviews and their items), pages without (jobs, events), and plain lists (models; embeddings
with `model` and `usage`)."""

from __future__ import annotations

from typing import Any

import httpx

from openrft.server.lists import list_object, page
from tests.server.conftest import Live
from tests.server.test_evals_api import CONFIG, EXACT, finished, given_rows, inline
from tests.server.test_jobs import client, method, upload, wait_for
from tests.server.test_review_routes import _body as review_body

CURSORED = ["object", "data", "first_id", "last_id", "has_more"]
PAGED = ["object", "data", "has_more"]


def test_the_builder_keeps_openais_key_order() -> None:
    rows = [{"id": "a"}, {"id": "b"}]
    assert list(page(rows, True).items()) == [
        ("object", "list"), ("data", rows), ("first_id", "a"), ("last_id", "b"), ("has_more", True),
    ]  # fmt: skip
    assert page([], False) == {
        "object": "list", "data": [], "first_id": None, "last_id": None, "has_more": False,
    }  # fmt: skip
    assert list(page(rows, False, cursors=False)) == PAGED
    assert list(list_object(rows, model="m", usage={})) == ["object", "data", "model", "usage"]


def test_every_list_route_answers_the_envelope_in_order(live: Live) -> None:
    with client(live) as sdk, client(live, strict=False) as loose:
        train = upload(sdk)
        job = sdk.fine_tuning.jobs.create(
            model="openrft-tiny", training_file=train, method=method(), seed=1
        )
        assert wait_for(sdk, job.id, "succeeded", "failed").status == "succeeded"
        made = loose.evals.create(name="lists", data_source_config=CONFIG, testing_criteria=[EXACT])
        run = finished(loose, made.id, inline(given_rows()))
        embedded = sdk.embeddings.create(
            model="openrft-tiny", input=["a", "b"], encoding_format="float"
        )
        assert [e.index for e in embedded.data] == [0, 1]

        def keys(raw: Any) -> list[str]:
            body = raw.http_response.json()
            assert body["object"] == "list" and isinstance(body["data"], list) and body["data"]
            return list(body)

        assert keys(sdk.files.with_raw_response.list()) == CURSORED
        assert keys(sdk.fine_tuning.jobs.checkpoints.with_raw_response.list(job.id)) == CURSORED
        assert keys(loose.evals.with_raw_response.list()) == CURSORED
        assert keys(loose.evals.runs.with_raw_response.list(made.id)) == CURSORED
        items = loose.evals.runs.output_items.with_raw_response.list(run.id, eval_id=made.id)
        assert keys(items) == CURSORED
        assert keys(sdk.fine_tuning.jobs.with_raw_response.list()) == PAGED
        assert keys(sdk.fine_tuning.jobs.with_raw_response.list_events(job.id)) == PAGED
        assert keys(sdk.models.with_raw_response.list()) == ["object", "data"]
        review: Any = sdk.post("/reviews", body=review_body(), cast_to=object)
        for path in ("/reviews", f"/reviews/{review['id']}/items"):
            listed = sdk.get(path, cast_to=httpx.Response)
            assert list(listed.json()) == CURSORED and listed.json()["data"]
        raw = sdk.embeddings.with_raw_response.create(
            model="openrft-tiny", input="a", encoding_format="float"
        )
        assert keys(raw) == ["object", "data", "model", "usage"]
