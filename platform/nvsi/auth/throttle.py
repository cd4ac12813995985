"""Throttling of login attempts, per client address and per account, with the ``limits``
library. The storage (Redis in production) is shared by every worker, so the limits hold for
the whole deployment, not per process."""

from __future__ import annotations

import time

from limits import parse
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter


class LoginThrottle:
    """Counts login attempts; ``allowed`` says whether one more may be tried now."""

    def __init__(self, storage_uri: str, per_address: str, per_account: str):
        #: The shared counter storage (the lockout of unknown addresses counts there too).
        self.storage = storage_from_string(storage_uri)
        self._limiter = MovingWindowRateLimiter(self.storage)
        self._per_address = parse(per_address)
        self._per_account = parse(per_account)

    def allowed(self, address: str, account: str) -> bool:
        """Whether an attempt from ``address`` for ``account`` may go ahead (counts nothing)."""
        return self._limiter.test(self._per_address, "address", address) and self._limiter.test(
            self._per_account, "account", account
        )

    def address_allowed(self, address: str) -> bool:
        """Whether ``address`` may try once more (for requests that name no account)."""
        return self._limiter.test(self._per_address, "address", address)

    def address_retry_after(self, address: str) -> int:
        """Seconds until ``address`` may try again."""
        stats = self._limiter.get_window_stats(self._per_address, "address", address)
        return 0 if stats.remaining > 0 else max(1, int(stats.reset_time - time.time()) + 1)

    def attempt(self, address: str) -> None:
        """Count an attempt from ``address`` (every attempt counts)."""
        self._limiter.hit(self._per_address, "address", address)

    def failure(self, account: str) -> None:
        """Count a failed attempt for ``account`` (a successful login does not count)."""
        self._limiter.hit(self._per_account, "account", account)

    def retry_after(self, address: str, account: str) -> int:
        """Seconds until the next attempt is allowed."""
        resets = []
        for limit, scope, key in (
            (self._per_address, "address", address),
            (self._per_account, "account", account),
        ):
            stats = self._limiter.get_window_stats(limit, scope, key)
            if stats.remaining <= 0:
                resets.append(stats.reset_time)
        if not resets:
            return 0
        return max(1, int(max(resets) - time.time()) + 1)
