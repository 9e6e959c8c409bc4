"""Conversations of several requests, written once as generators of steps and run by either client.

A conversation yields :class:`Send` (run this call; it is sent back ``(envelope, response)``, or has the
failure thrown in) and :class:`Pause` (wait before going on). :func:`run` and :func:`run_async` are the two
drivers; they differ only in whether they await. The write-back conversations (custom fields, fulfilment)
use them; the queue drain has its own driver because it also hands orders to a user's handler.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Generator
from typing import TYPE_CHECKING, Any, TypeVar

import attrs

from ._envelope import Call

if TYPE_CHECKING:
    from ._client import AsyncClient, Client

__all__ = ["Pause", "Send", "Steps", "run", "run_async"]

T = TypeVar("T")


@attrs.frozen
class Send:
    """Run this call through the client (its retry policy applies); answer ``(envelope, response)``."""

    call: Call


@attrs.frozen
class Pause:
    """Wait ``seconds`` before the next step (skipped when the client's retry policy never sleeps)."""

    seconds: float


Steps = Generator["Send | Pause", Any, T]


def run(client: Client, steps: Steps[T]) -> T:
    """Drive a conversation with the synchronous client."""
    answer: Any = None
    failure: Exception | None = None
    while True:
        try:
            step = steps.send(answer) if failure is None else steps.throw(failure)
        except StopIteration as done:
            return done.value  # type: ignore[no-any-return]
        answer, failure = None, None
        try:
            if isinstance(step, Send):
                answer = client._run(step.call)
            elif client.retry.wait:
                time.sleep(step.seconds)
        except Exception as exc:  # the conversation decides what a failure means
            failure = exc


async def run_async(client: AsyncClient, steps: Steps[T]) -> T:
    """Drive a conversation with the asynchronous client."""
    answer: Any = None
    failure: Exception | None = None
    while True:
        try:
            step = steps.send(answer) if failure is None else steps.throw(failure)
        except StopIteration as done:
            return done.value  # type: ignore[no-any-return]
        answer, failure = None, None
        try:
            if isinstance(step, Send):
                answer = await client._run(step.call)
            elif client.retry.wait:
                await asyncio.sleep(step.seconds)
        except Exception as exc:  # the conversation decides what a failure means
            failure = exc
