"""Independent reads sent together: a region away, each request costs a round trip, and reads that do not
depend on one another need not wait for one another."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any, TypeVar

import anyio

A = TypeVar("A")
B = TypeVar("B")


async def side_by_side(first: Awaitable[A], second: Awaitable[B]) -> tuple[A, B]:
    """Await both at once; the first to fail cancels the other, and its exception is raised as itself (not in
    an exception group), so callers catch `ScpError` as they would for one read."""
    results: list[Any] = [None, None]

    async def into(index: int, awaitable: Awaitable[Any]) -> None:
        results[index] = await awaitable

    try:
        async with anyio.create_task_group() as group:
            group.start_soon(into, 1, second)
            await into(0, first)
    except BaseExceptionGroup as failed:
        error: BaseException = failed
        while isinstance(error, BaseExceptionGroup):
            error = error.exceptions[0]
        raise error from None
    return results[0], results[1]
