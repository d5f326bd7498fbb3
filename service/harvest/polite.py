"""A fetcher that is polite to a library's server: a pause between requests to one host, and a
user agent that says who to contact.

Concurrency per host, retries with exponential backoff and ``Retry-After`` are the base
``Fetcher``'s; this adds the spacing a harvest of thousands of pages needs on top of them.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field, replace
from urllib.parse import urlsplit

from service.iiif.fetch import Fetcher, FetchPolicy, Response


@dataclass
class PoliteFetcher(Fetcher):
    delay: float = 0.0  # seconds between the starts of two requests to one host
    _next_at: dict[str, float] = field(default_factory=dict, repr=False)
    _pace: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def get(self, url: str, accept: str = "*/*") -> Response:
        if self.delay > 0:
            self._wait_turn(urlsplit(url).hostname or "")
        return super().get(url, accept)

    def _wait_turn(self, host: str) -> None:
        # Slots are reserved under the lock and waited for outside it, so that threads queue
        # up one `delay` apart instead of all waking at once.
        now = time.monotonic()
        with self._pace:
            start = max(now, self._next_at.get(host, now))
            self._next_at[host] = start + self.delay
        if start > now:
            self.sleep(start - now)


def with_contact(policy: FetchPolicy, contact: str | None) -> FetchPolicy:
    """The policy with ``contact`` (an e-mail or URL) in its user agent, as crawlers are asked
    to: ``florilege/0.1 (+IIIF ornament finder; contact: ops@example.org)``."""
    if not contact:
        return policy
    agent = policy.user_agent
    if agent.endswith(")"):
        agent = f"{agent[:-1]}; contact: {contact})"
    else:
        agent = f"{agent} (contact: {contact})"
    return replace(policy, user_agent=agent)
