"""The reconnection policy (sans-I/O): exponential backoff with jitter, as the npm
``socket.io-client`` 4.8 computes it (its ``contrib/backo2``).

Owns the arithmetic only; the randomness is an input (``rand`` in [0, 1)), the waiting is
the manager's. Durations are whole milliseconds, as in JS (``| 0``), given in seconds::

    ms        = delay * 2 ** attempts
    deviation = floor(rand * randomization_factor * ms)
    ms        = ms - deviation   if floor(rand * 10) is even
                ms + deviation   otherwise
    duration  = min(ms, delay_max)
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["Backoff"]


@dataclass
class Backoff:
    """The delays between reconnection attempts.

    :param delay: [reconnectionDelay] seconds before the first attempt (1 s).
    :param delay_max: [reconnectionDelayMax] the longest delay (5 s).
    :param randomization_factor: [randomizationFactor] jitter, 0 <= f <= 1 (0.5).
    :param factor: the growth per attempt (2, as in JS).
    """

    delay: float = 1.0
    delay_max: float = 5.0
    randomization_factor: float = 0.5
    factor: float = 2.0
    #: attempts made since the last :meth:`reset`
    attempts: int = 0

    def __post_init__(self) -> None:
        if self.delay < 0 or self.delay_max < 0:
            raise ValueError("reconnection delays must not be negative")
        if not 0 <= self.randomization_factor <= 1:
            raise ValueError("randomization_factor must be between 0 and 1")

    def duration(self, rand: float) -> float:
        """The delay before the next attempt, in seconds; counts the attempt."""
        ms = self.delay * 1000 * self.factor**self.attempts
        self.attempts += 1
        if self.randomization_factor:
            deviation = math.floor(rand * self.randomization_factor * ms)
            ms = ms - deviation if math.floor(rand * 10) % 2 == 0 else ms + deviation
        return int(min(ms, self.delay_max * 1000)) / 1000

    def reset(self) -> None:
        """A connection succeeded: the next failure starts from ``delay`` again."""
        self.attempts = 0
