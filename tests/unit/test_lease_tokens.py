"""Lease tokens are unique within a process and between processes forked from it."""

from __future__ import annotations

import multiprocessing

from crossdock.bus.sqlite.lanes import lease_token


def _child_tokens(out: multiprocessing.SimpleQueue[list[str]]) -> None:
    out.put([lease_token() for _ in range(3)])


def test_tokens_never_repeat_in_a_process() -> None:
    tokens = [lease_token() for _ in range(10_000)]
    assert len(set(tokens)) == len(tokens)


def test_a_forked_child_draws_tokens_of_its_own() -> None:
    lease_token()  # the parent's counter has moved on: a child copying it would repeat it
    context = multiprocessing.get_context("fork")
    out: multiprocessing.SimpleQueue[list[str]] = context.SimpleQueue()
    children = [context.Process(target=_child_tokens, args=(out,)) for _ in range(2)]
    for child in children:
        child.start()
    for child in children:
        child.join(10)
    seen = [lease_token() for _ in range(3)] + out.get() + out.get()
    assert len(set(seen)) == 9
