"""A small discrete-event core, shared by the cluster simulator and the serving simulator.

The queue is a heap of ``(time, priority, sequence, event)``; the sequence number from
``itertools.count()`` makes ties deterministic (first scheduled, first run), as in SimPy.
Handlers return the events they cause, so a run is a pure function of its inputs and seed.

>>> log = []
>>> def hello(loop, ev):
...     log.append((loop.now, ev.payload))
...     return [Event(loop.now + 1.0, hello, ev.payload + 1)] if ev.payload < 2 else []
>>> loop = EventLoop()
>>> _ = loop.schedule(Event(0.0, hello, 0))
>>> loop.run()
>>> log
[(0.0, 0), (1.0, 1), (2.0, 2)]
"""

from __future__ import annotations

import heapq
import itertools
import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

Handler = Callable[["EventLoop", "Event"], Iterable["Event"] | None]


@dataclass(slots=True)
class Event:
    """Something that happens at ``time``; lower ``priority`` runs first among equal times."""

    time: float
    handler: Handler
    payload: Any = None
    priority: int = 0
    cancelled: bool = field(default=False, compare=False)

    def cancel(self) -> None:
        """Mark the event so the loop skips it (cheaper than removing it from the heap)."""
        self.cancelled = True


class EventLoop:
    """Virtual clock + heap. ``schedule``, ``step``, ``run(until)``, ``peek``."""

    def __init__(self, start: float = 0.0, seed: int | None = None) -> None:
        self.now = start
        self.rng = random.Random(seed)
        self._heap: list[tuple[float, int, int, Event]] = []
        self._seq = itertools.count()
        self.processed = 0

    def schedule(self, event: Event) -> Event:
        if event.time < self.now:
            raise ValueError(f"cannot schedule an event in the past ({event.time} < {self.now})")
        heapq.heappush(self._heap, (event.time, event.priority, next(self._seq), event))
        return event

    def at(self, time: float, handler: Handler, payload: Any = None, priority: int = 0) -> Event:
        """Shorthand: schedule ``handler(loop, event)`` at ``time``."""
        return self.schedule(Event(time, handler, payload, priority))

    def peek(self) -> float:
        """Time of the next live event, or ``inf`` if none."""
        while self._heap and self._heap[0][3].cancelled:
            heapq.heappop(self._heap)
        return self._heap[0][0] if self._heap else float("inf")

    def step(self) -> bool:
        """Run the next live event; False when the queue is empty."""
        while self._heap:
            time, _, _, event = heapq.heappop(self._heap)
            if event.cancelled:
                continue
            self.now = time
            self.processed += 1
            caused = event.handler(self, event)
            if caused:
                for ev in caused:
                    self.schedule(ev)
            return True
        return False

    def run(self, until: float | None = None) -> None:
        """Run events until the queue is empty or the next one is after ``until``."""
        limit = float("inf") if until is None else until
        while self._heap and self.peek() <= limit:
            self.step()
        if until is not None and until > self.now:
            self.now = until

    def __len__(self) -> int:
        return sum(1 for *_, ev in self._heap if not ev.cancelled)
