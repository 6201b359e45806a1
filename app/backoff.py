"""Exponential backoff, shared by the outboxes (mail, webhooks)."""

from collections.abc import Callable
from datetime import timedelta


def exponential_backoff(
    attempts: int, *, base_seconds: float, max_seconds: float, jitter: Callable[[], float] | None = None
) -> timedelta:
    """The wait after the `attempts`-th failed attempt: `base * 2^(attempts-1)`, at most
    `max_seconds`. With `jitter` (a draw in [0, 1)), "equal jitter": half the wait fixed,
    half drawn, so retries of many events that failed together spread out instead of
    arriving together (https://aws.amazon.com/blogs/architecture/exponential-backoff-and-jitter/).
    The exponent is capped before it is raised: 2^attempts seconds overflow a timedelta."""
    seconds = min(base_seconds * 2 ** min(max(attempts - 1, 0), 62), max_seconds)
    if jitter is not None:
        seconds = seconds / 2 + seconds / 2 * jitter()
    return timedelta(seconds=seconds)
