"""An optional HTTP cache for fetches (``FLORILEGE_HTTP_CACHE=DIR``, ``harvest --http-cache``).

With it, harvesting a collection again (with a new model bundle, after ``--force``) reads the
manifests, ``info.json`` documents and page images it already has from disk instead of asking
the library's server for them again.

It is CacheControl (the PSF's, which pip itself vendors) rather than requests-cache:
requests-cache caches at the session, and reads each body whole before the fetcher sees it,
which would step around the fetcher's byte limit and deadline (``fetch.Fetcher._read``).
CacheControl is a transport adapter: here it sits on the pinned adapter (so connections are
still made only to vetted addresses), and it stores a body only once the fetcher has read it
to its end, so a response the fetcher stops reading (too large, too slow) is never stored. (One
that ends within the fetcher's last read may be; the same limits refuse it again at every use.)
"""

from __future__ import annotations

import time
from email.utils import formatdate
from pathlib import Path
from typing import Any

from cachecontrol import CacheControlAdapter
from cachecontrol.caches import FileCache
from cachecontrol.heuristics import BaseHeuristic

from service.iiif.pinned import Guard, PinnedAdapter

# How long a response that states no freshness of its own is used without asking again:
# IIIF manifests and images seldom change, and a harvest is rerun within days.
UNSTATED_FRESH_SECONDS = 7 * 24 * 3600


class _Unstated(BaseHeuristic):
    """Freshness for responses that state none; what a server does say (``Cache-Control``,
    ``Expires``, including ``no-store``) is obeyed."""

    def update_headers(self, response: Any) -> dict[str, str]:
        if "cache-control" in response.headers or "expires" in response.headers:
            return {}
        return {"expires": formatdate(time.time() + UNSTATED_FRESH_SECONDS, usegmt=True)}

    def warning(self, response: Any) -> None:
        return None  # the header is for people reading a cached response; ours are not shown


class PinnedCachingAdapter(CacheControlAdapter, PinnedAdapter):
    """The pinned adapter with a cache in front of it."""


def caching_adapter(guard: Guard, folder: str) -> PinnedCachingAdapter:
    """An adapter for a ``Fetcher``'s session that keeps responses in ``folder``."""
    Path(folder).mkdir(parents=True, exist_ok=True)
    return PinnedCachingAdapter(cache=FileCache(folder), heuristic=_Unstated(), guard=guard)
