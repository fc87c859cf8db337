"""The outbound allow-list: loopback always, the operator's hosts, nothing else."""

from __future__ import annotations

import pytest

from openrft.errors import InvalidRequestError
from openrft.outbound import OutboundPolicy

OPEN = OutboundPolicy()


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/tool",
        "http://127.5.6.7/x",
        "https://localhost/grade",
        "http://[::1]:9000/",
        "http://api.localhost:81/",
    ],
)
def test_loopback_is_always_allowed(url: str) -> None:
    assert OPEN.problem(url) is None


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data",
        "http://10.0.0.7/",
        "https://tools.example.com/",
        "http://0.0.0.0:80/",
    ],
)
def test_other_hosts_need_the_operator(url: str) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        OPEN.check(url, param="method.reinforcement.tools[0].server_url")
    assert caught.value.code == "url_not_allowed"
    assert caught.value.param == "method.reinforcement.tools[0].server_url"
    assert "OPENRFT_OUTBOUND_HOSTS" in caught.value.message


@pytest.mark.parametrize(
    "url",
    ["ftp://127.0.0.1/", "file:///etc/passwd", "http://user:pw@127.0.0.1/", "http:///x", "nope"],
)
def test_bad_urls_are_refused_with_a_reason(url: str) -> None:
    assert OPEN.problem(url)


def test_operator_entries() -> None:
    policy = OutboundPolicy.from_env(
        {"OPENRFT_OUTBOUND_HOSTS": " Tools.Example.com, grader.lan:8443 ,*.corp.test,10.0.0.7"}
    )
    assert policy.problem("https://tools.example.com/x") is None
    assert policy.problem("http://TOOLS.example.com:9999/") is None
    assert policy.problem("https://grader.lan:8443/grade") is None
    assert policy.problem("https://grader.lan/grade")  # another port
    assert policy.problem("http://a.b.corp.test/") is None
    assert policy.problem("http://corp.test/")  # not the apex
    assert policy.problem("http://evilcorp.test/")
    assert policy.problem("http://10.0.0.7:5000/") is None
    assert policy.problem("http://10.0.0.8/")


def test_star_allows_any_host() -> None:
    policy = OutboundPolicy.from_env({"OPENRFT_OUTBOUND_HOSTS": "*"})
    assert policy.problem("https://anywhere.example/") is None
    assert policy.problem("ftp://anywhere.example/")  # the scheme rule still holds


def test_redact_headers_masks_every_outbound_targets_header_values() -> None:
    from openrft.outbound import redact_headers

    grader = {"type": "endpoint", "url": "http://localhost/g", "headers": {"Authorization": "k1"}}
    tool = {"name": "lookup", "server_url": "http://localhost/t", "headers": {"X-Key": "k2"}}
    schema = {"type": "object", "properties": {"url": {"type": "string"},
              "headers": {"type": "object", "additionalProperties": {"type": "string"}}}}  # fmt: skip
    method = {"reinforcement": {"grader": {"type": "multi", "graders": {"a": grader}},
              "tools": [tool], "response_format": {"json_schema": {"schema": schema}}}}  # fmt: skip
    shown = redact_headers(method)["reinforcement"]
    assert shown["grader"]["graders"]["a"]["headers"] == {"Authorization": "***"}
    assert shown["tools"][0]["headers"] == {"X-Key": "***"}
    assert shown["tools"][0]["server_url"] == "http://localhost/t"
    assert shown["response_format"]["json_schema"]["schema"] == schema  # not a target
    assert grader["headers"] == {"Authorization": "k1"}  # a copy: the stored value stays


def test_reject_redacted_names_the_masked_header() -> None:
    from openrft.outbound import reject_redacted

    reject_redacted({"Authorization": "Bearer real"}, param="tools[0].headers")
    reject_redacted(None, param="tools[0].headers")
    with pytest.raises(InvalidRequestError) as caught:
        reject_redacted({"X-Key": "***"}, param="method.reinforcement.tools[0].headers")
    assert caught.value.code == "redacted_header"
    assert caught.value.param == "method.reinforcement.tools[0].headers.X-Key"


def test_split_headers_takes_the_values_out_by_path_and_join_headers_puts_them_back() -> None:
    from openrft.outbound import join_headers, split_headers

    endpoint = {"type": "endpoint", "url": "http://localhost/g", "headers": {"K": "v1"}}
    criteria = [endpoint, {"type": "multi", "graders": {"b": {**endpoint, "headers": {"K": "v2"}}}}]
    stored, values = split_headers(criteria)
    assert values == {"0": {"K": "v1"}, "1/graders/b": {"K": "v2"}}
    assert "v1" not in repr(stored) and "v2" not in repr(stored)
    assert join_headers(stored, values, what="eval e") == criteria
    assert split_headers(stored) == (stored, {})  # a masked value is not a value
    with pytest.raises(InvalidRequestError) as caught:
        join_headers(stored, {"0": {"K": "v1"}}, what="eval e")
    assert "eval e's header 'K'" in caught.value.message  # named, never sent as `***`
