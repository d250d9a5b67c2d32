"""Swarm mode without engines: the removal rule and the engine's answers as the API reads them."""

from __future__ import annotations

import pytest

from machine.docker import dockerapi
from machine.ops.swarm import Node, removal_problem


def node(name: str, role: str, state: str = "ready") -> Node:
    return Node(
        machine=name,
        node_id=name * 3,
        hostname=name,
        role=role,
        leader=False,
        state=state,
        availability="active",
        engine="28.0",
        cluster="c1",
    )


def test_the_last_manager_of_workers_stays() -> None:
    why = removal_problem("m1", [node("m1", "manager"), node("w1", "worker")])
    assert "last manager" in why and "1 worker(s)" in why


def test_a_lone_manager_may_go() -> None:
    assert removal_problem("m1", [node("m1", "manager")]) == ""


@pytest.mark.parametrize(
    ("states", "problem"),
    [
        # three managers, all up: two of two left keep quorum
        (("ready", "ready", "ready"), False),
        # three managers, one down: one of two left is no majority
        (("ready", "ready", "down"), True),
        # five managers, one down: three of four left is a majority
        (("ready", "ready", "ready", "ready", "down"), False),
        # five managers, two down: two of four left is not
        (("ready", "ready", "ready", "down", "down"), True),
        # two managers: the one left is a majority of one
        (("ready", "ready"), False),
    ],
)
def test_quorum_of_the_managers_left(states: tuple[str, ...], problem: bool) -> None:
    nodes = [node(f"m{i}", "manager", state) for i, state in enumerate(states)]
    why = removal_problem("m0", [*nodes, node("w1", "worker")])
    assert bool(why) is problem, why
    if problem:
        assert "quorum" in why


def response(status: str, body: bytes, *headers: str) -> bytes:
    head = "\r\n".join([f"HTTP/1.1 {status}", *headers, f"Content-Length: {len(body)}"])
    return head.encode() + b"\r\n\r\n" + body


def test_an_engine_error_carries_its_message() -> None:
    raw = response("503 Service Unavailable", b'{"message":"This node is not a swarm manager."}')
    with pytest.raises(dockerapi.APIError) as caught:
        dockerapi._parse_response(raw)
    assert caught.value.status == 503
    assert caught.value.message == "This node is not a swarm manager."


def test_an_error_without_json_keeps_its_text() -> None:
    with pytest.raises(dockerapi.APIError) as caught:
        dockerapi._parse_response(response("500 Internal Server Error", b"boom\n"))
    assert caught.value.message == "boom"


def test_empty_and_json_answers() -> None:
    assert dockerapi._parse_response(response("200 OK", b"")) is None
    assert dockerapi._parse_response(response("201 Created", b'"abc"')) == "abc"
    chunked = b'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n7\r\n{"a":1}\r\n0\r\n\r\n'
    assert dockerapi._parse_response(chunked) == {"a": 1}
