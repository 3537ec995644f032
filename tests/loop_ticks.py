"""Whether the asyncio event loop kept running while something else worked."""

from __future__ import annotations

import asyncio
from types import TracebackType


class LoopTicks:
    """``async with LoopTicks() as ticks: ...``: ``ticks.count`` is how often a 10 ms timer got
    to run on the loop during the block (none when the block held the loop)."""

    def __init__(self) -> None:
        self.count = 0
        self._task: asyncio.Task | None = None

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(0.01)
            self.count += 1

    async def __aenter__(self) -> LoopTicks:
        self._task = asyncio.create_task(self._tick())
        return self

    async def __aexit__(self, kind: type[BaseException] | None, error: BaseException | None,
                        trace: TracebackType | None) -> None:
        if self._task is not None:
            self._task.cancel()
