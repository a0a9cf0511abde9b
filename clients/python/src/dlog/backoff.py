"""How a reader retries a lost session: exponential backoff with full jitter, bounded in attempts and time."""

from __future__ import annotations

import math
import random
import time
from dataclasses import dataclass
from typing import Callable, Optional


@dataclass(frozen=True)
class Reconnect:
    """Reconnect settings of a reader (``reconnect=False`` turns reconnecting off)."""

    initial_delay: float = 0.05
    """First delay before re-opening, seconds."""
    max_delay: float = 5.0
    """Largest delay between attempts, seconds."""
    multiplier: float = 2.0
    """Growth of the delay per failed attempt."""
    max_attempts: Optional[int] = None
    """Give up after this many consecutive failed attempts (None: bounded by ``max_elapsed`` only)."""
    max_elapsed: float = 60.0
    """Give up when the session has been down this long, seconds."""

    def __post_init__(self) -> None:
        if not (0 <= self.initial_delay <= self.max_delay and self.multiplier >= 1 and self.max_elapsed >= 0):
            raise ValueError("Reconnect: need 0 <= initial_delay <= max_delay, multiplier >= 1 and max_elapsed >= 0")
        if self.max_attempts is not None and self.max_attempts < 0:
            raise ValueError("Reconnect: max_attempts must be >= 0")


class Backoff:
    """Full jitter (a uniform delay in [0, cap]) spreads clients apart after a server restart
    instead of having them all return in lock-step."""

    def __init__(
        self,
        settings: Reconnect,
        rand: Callable[[], float] = random.random,
        now: Callable[[], float] = time.monotonic,
    ) -> None:
        self._settings = settings
        self._rand = rand
        self._now = now
        self.attempts = 0
        self._since: Optional[float] = None

    def next(self) -> Optional[float]:
        """The delay before the next attempt (seconds), or None when the budget is spent."""
        s = self._settings
        if self._since is None:
            self._since = self._now()
        max_attempts = math.inf if s.max_attempts is None else s.max_attempts
        if self.attempts >= max_attempts or self._now() - self._since >= s.max_elapsed:
            return None
        cap = min(s.max_delay, s.initial_delay * s.multiplier ** min(self.attempts, 64))
        self.attempts += 1
        return self._rand() * cap

    def reset(self) -> None:
        """A session opened: the next loss starts from the first delay again."""
        self.attempts = 0
        self._since = None
