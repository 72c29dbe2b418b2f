"""A token bucket per caller, kept in memory: a system's own rate limit, apart from faults.

Each caller (e.g. an API key) has a bucket holding up to ``burst`` tokens, refilled at
``per_second``; a request takes one token, or is refused with the seconds until one is back.
"""

from __future__ import annotations

import hashlib
import math
import threading
import time
from dataclasses import dataclass, field


@dataclass
class _Bucket:
    tokens: float
    refilled_at: float


@dataclass
class RateLimiter:
    """Buckets per ``(scope, caller)``; callers are kept as hashes, never in clear."""

    _buckets: dict[tuple[str, str], _Bucket] = field(default_factory=dict)
    _served: dict[str, int] = field(default_factory=dict)
    _limited: dict[str, int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def take(self, scope: str, caller: str, per_second: float, burst: int) -> int | None:
        """Take a token: None when the request may go on, else whole seconds to wait (>= 1)."""
        key = (scope, hashlib.sha256(caller.encode()).hexdigest())
        now = time.monotonic()
        with self._lock:
            bucket = self._buckets.setdefault(key, _Bucket(float(burst), now))
            elapsed = max(0.0, now - bucket.refilled_at)
            bucket.tokens = min(float(burst), bucket.tokens + elapsed * per_second)
            bucket.refilled_at = now
            if bucket.tokens >= 1.0:
                bucket.tokens -= 1.0
                self._served[scope] = self._served.get(scope, 0) + 1
                return None
            self._limited[scope] = self._limited.get(scope, 0) + 1
            return max(1, math.ceil((1.0 - bucket.tokens) / per_second))

    def counts(self, scope: str) -> dict[str, int]:
        with self._lock:
            return {"served": self._served.get(scope, 0), "limited": self._limited.get(scope, 0)}

    def clear(self, scope: str | None = None) -> None:
        """Full buckets and zero counts again (for one scope, or all)."""
        with self._lock:
            if scope is None:
                self._buckets.clear()
                self._served.clear()
                self._limited.clear()
                return
            self._buckets = {key: b for key, b in self._buckets.items() if key[0] != scope}
            self._served.pop(scope, None)
            self._limited.pop(scope, None)
