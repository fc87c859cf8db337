"""`openrft review`: read a candidate's outputs beside the baseline's and approve or reject them.

    openrft review list                      reviews, newest first, with their counts
    openrft review list REVIEW [--status S]  one review's items
    openrft review show ITEM                 the prompt, the candidate's answer, the baseline's
    openrft review approve ITEM [--note N]
    openrft review reject ITEM --note N      a rejection says why

Reviews live where `openrft gate --require-review` keeps them: on the openrft server at
`--base-url` (the key's project), or without it in the local home (`OPENRFT_HOME`).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Protocol, TypeVar

import typer

from openrft.cli.render import console
from openrft.errors import InvalidRequestError, NotFoundError
from openrft.evals.review import ReviewCreateRequest, Verdict
from openrft.evals.tables import FitTable

T = TypeVar("T")
HOME = "home"
"""`--review-url home`: the local store, whatever `--base-url` says."""

app = typer.Typer(help="Approve or reject a candidate's outputs before it is rolled out.",
                  no_args_is_help=True)  # fmt: skip
BaseUrl = Annotated[
    str | None,
    typer.Option(envvar="OPENRFT_BASE_URL", help="openrft server /v1 URL (else the local home)."),
]
ApiKey = Annotated[str | None, typer.Option(envvar="OPENRFT_API_KEY", help="API key for it.")]
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON.")]


class Reviews(Protocol):
    def create(self, body: ReviewCreateRequest) -> dict[str, Any]: ...
    def review(self, review_id: str) -> dict[str, Any]: ...
    def reviews(self, candidate: str | None, baseline: str | None) -> list[dict[str, Any]]: ...
    def items(self, review_id: str, status: str | None) -> list[dict[str, Any]]: ...
    def item(self, item_id: str) -> dict[str, Any]: ...
    def decide(self, item_id: str, verdict: Verdict, note: str | None) -> dict[str, Any]: ...


class LocalReviews:
    """The local home's store, as project `default` (what a key-less server calls it)."""

    def __init__(self, home: Path, project: str = "default"):
        from openrft.evals.review_store import ReviewStore
        from openrft.store.db import Database

        self.store, self.project = ReviewStore(Database(home)), project

    def create(self, body: ReviewCreateRequest) -> dict[str, Any]:
        return self.store.create(self.project, body)

    def review(self, review_id: str) -> dict[str, Any]:
        return self.store.review(self.project, review_id)

    def reviews(self, candidate: str | None, baseline: str | None) -> list[dict[str, Any]]:
        return self.store.reviews(self.project, candidate, baseline, limit=100)[0]

    def items(self, review_id: str, status: str | None) -> list[dict[str, Any]]:
        return self.store.items(self.project, review_id, status)

    def item(self, item_id: str) -> dict[str, Any]:
        return self.store.item(self.project, item_id)

    def decide(self, item_id: str, verdict: Verdict, note: str | None) -> dict[str, Any]:
        return self.store.decide(self.project, item_id, verdict, note)


class RemoteReviews:
    """An openrft server's review routes, through the `openai` SDK's plain get/post."""

    def __init__(self, base_url: str, api_key: str | None):
        from openai import OpenAI

        self.url = base_url
        self.client = OpenAI(base_url=base_url, api_key=api_key or "unused", timeout=60)

    def _call(self, send: Callable[[], T]) -> T:
        import openai

        try:
            return send()
        except openai.APIConnectionError as exc:
            raise InvalidRequestError(f"cannot reach the server at {self.url}: {exc}") from None
        except openai.APIStatusError as exc:
            kind = NotFoundError if exc.status_code == 404 else InvalidRequestError
            raise kind(f"the server at {self.url} answered {exc.status_code}: "
                       f"{exc.message}") from None  # fmt: skip

    def _get(self, path: str, params: dict[str, Any] | None = None) -> Any:
        options: Any = {"params": {k: v for k, v in (params or {}).items() if v is not None}}
        return self._call(lambda: self.client.get(path, cast_to=object, options=options))

    def _post(self, path: str, body: dict[str, Any]) -> Any:
        return self._call(lambda: self.client.post(path, cast_to=object, body=body))

    def create(self, body: ReviewCreateRequest) -> dict[str, Any]:
        return dict(self._post("/reviews", body.model_dump(mode="json", exclude_none=True)))

    def review(self, review_id: str) -> dict[str, Any]:
        return dict(self._get(f"/reviews/{review_id}"))

    def reviews(self, candidate: str | None, baseline: str | None) -> list[dict[str, Any]]:
        answer = self._get("/reviews", {"candidate": candidate, "baseline": baseline, "limit": 100})
        return list(answer["data"])

    def items(self, review_id: str, status: str | None) -> list[dict[str, Any]]:
        return list(self._get(f"/reviews/{review_id}/items", {"status": status})["data"])

    def item(self, item_id: str) -> dict[str, Any]:
        return dict(self._get(f"/review_items/{item_id}"))

    def decide(self, item_id: str, verdict: Verdict, note: str | None) -> dict[str, Any]:
        action = "approve" if verdict == "approved" else "reject"
        body = {"note": note} if note is not None else {}
        return dict(self._post(f"/review_items/{item_id}/{action}", body))


def reviews_at(url: str | None, api_key: str | None) -> Reviews:
    """The server at `url`, or the local home for None or `home`."""
    if url and url != HOME:
        return RemoteReviews(url, api_key)
    return LocalReviews(Path(os.environ.get("OPENRFT_HOME", ".openrft")))


# --- commands -----------------------------------------------------------------------------


@app.command("list")
def list_command(
    review: Annotated[str | None, typer.Argument(help="A review id: list its items.")] = None,
    status: Annotated[
        str | None, typer.Option(help="Only items that are pending, approved or rejected.")
    ] = None,
    candidate: Annotated[str | None, typer.Option(help="Only this candidate's reviews.")] = None,
    base_url: BaseUrl = None,
    api_key: ApiKey = None,
    as_json: AsJson = False,
) -> None:
    """Reviews with their counts, or one review's items."""
    store = reviews_at(base_url, api_key)
    if review is None:
        found = store.reviews(candidate, None)
        _print(as_json, found, lambda: FitTable("reviews", [_review_row(r) for r in found]))
        return
    if status not in (None, "pending", "approved", "rejected"):
        raise InvalidRequestError(f"--status is pending, approved or rejected, not {status!r}")
    head = store.review(review)
    items = store.items(review, status)
    title = f"review {review}: {head['candidate']} vs {head['baseline']}"
    _print(as_json, items, lambda: FitTable(title, [_item_row(i) for i in items]))


@app.command("show")
def show_command(
    item: Annotated[str, typer.Argument(help="A review item id.")],
    base_url: BaseUrl = None,
    api_key: ApiKey = None,
    as_json: AsJson = False,
) -> None:
    """The prompt, then the candidate's answer, then the baseline's, with their rewards."""
    store = reviews_at(base_url, api_key)
    found = store.item(item)
    if as_json:
        console.print_json(json.dumps(found))
        return
    head = store.review(found["review_id"])
    say = lambda text: console.print(text, highlight=False, markup=False, soft_wrap=True)  # noqa: E731
    say(f"{found['id']} · slice {found['slice']} · {found['status']}"
        + (f" · note: {found['note']}" if found["note"] else ""))  # fmt: skip
    for message in found["item"].get("messages", []):
        say(f"--- prompt ({message.get('role')}) ---\n{_text(message.get('content'))}")
    for side in ("candidate", "baseline"):
        output = found[side]
        reward = "not graded" if output["reward"] is None else f"reward {output['reward']:.4g}"
        say(f"--- {side} {head[side]} ({reward}) ---\n{output['output_text']}")


@app.command("approve")
def approve_command(
    item: Annotated[str, typer.Argument(help="A review item id.")],
    note: Annotated[str | None, typer.Option(help="Why (optional).")] = None,
    base_url: BaseUrl = None,
    api_key: ApiKey = None,
) -> None:
    """Approve one output of the candidate."""
    _decide(reviews_at(base_url, api_key), item, "approved", note)


@app.command("reject")
def reject_command(
    item: Annotated[str, typer.Argument(help="A review item id.")],
    note: Annotated[str, typer.Option(help="Why it must not ship (required).")],
    base_url: BaseUrl = None,
    api_key: ApiKey = None,
) -> None:
    """Reject one output of the candidate: the gate fails while any is rejected."""
    _decide(reviews_at(base_url, api_key), item, "rejected", note)


def _decide(store: Reviews, item: str, verdict: Verdict, note: str | None) -> None:
    decided = store.decide(item, verdict, note)
    counts = store.review(decided["review_id"])["counts"]
    console.print(
        f"{item}: {verdict} (review {decided['review_id']}: {counts['approved']} approved, "
        f"{counts['rejected']} rejected, {counts['pending']} pending)",
        highlight=False,
        markup=False,
        soft_wrap=True,
    )


def _print(as_json: bool, data: list[dict[str, Any]], table: Callable[[], FitTable]) -> None:
    if as_json:
        console.print_json(json.dumps(data))
    elif not data:
        console.print("nothing to list")
    else:
        console.print(table())


def _review_row(review: dict[str, Any]) -> dict[str, Any]:
    counts = review["counts"]
    return {"review": review["id"], "candidate": review["candidate"],
            "baseline": review["baseline"], "approved": counts["approved"],
            "rejected": counts["rejected"], "pending": counts["pending"]}  # fmt: skip


def _item_row(item: dict[str, Any]) -> dict[str, Any]:
    def reward(side: str) -> str:
        value = item[side]["reward"]
        return "-" if value is None else f"{value:.3g}"

    return {"item": item["id"], "slice": item["slice"], "status": item["status"],
            "candidate reward": reward("candidate"), "baseline reward": reward("baseline"),
            "candidate answer": _short(item["candidate"]["output_text"])}  # fmt: skip


def _short(text: str, width: int = 40) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def _text(content: Any) -> str:
    """A message's content: a string, or the text parts of a list of parts."""
    if isinstance(content, list):
        return "\n".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return str(content)
