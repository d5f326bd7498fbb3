"""Walk a IIIF collection, or a plain list, down to the manifest URLs it names.

Presentation 3 collections nest collections in ``items``; Presentation 2.1 collections list
``manifests``, ``collections`` or ``members`` and may be paged (``first``, then ``next`` on each
page). A plain list is a JSON array of URLs or a text file with one URL a line. Manifests are not
fetched here (the manifest jobs fetch them), so a broken manifest fails only its own job; a
sub-collection that cannot be read is reported and skipped, so one bad branch does not stop a
harvest. Only the root must be readable.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from service.iiif.fetch import Fetcher, FetchError
from service.iiif.manifest import InvalidManifest, collection_members, is_collection

MAX_DEPTH = 8
MAX_PAGES = 100_000  # pages of one paged collection: a guard against a `next` loop


@dataclass(frozen=True)
class WalkError:
    url: str
    code: str
    message: str


OnError = Callable[[WalkError], None]


def walk_collection(
    fetcher: Fetcher, url: str, on_error: OnError, max_depth: int = MAX_DEPTH
) -> Iterator[str]:
    """Manifest URLs reachable from the collection at ``url``, in document order, each once.

    Raises if the root itself cannot be read or is not a collection.
    """
    root = fetcher.get_json(url)
    if not is_collection(root):
        raise InvalidManifest(f"{url} is not a IIIF collection")
    seen_collections = {url}
    seen_manifests: set[str] = set()
    # Depth-first, children in document order: the stack holds (url, depth, document or None).
    stack: list[tuple[str, int, Any]] = [(url, 0, root)]
    while stack:
        current, depth, doc = stack.pop()
        try:
            doc = fetcher.get_json(current) if doc is None else doc
            manifests, collections = _members_with_pages(fetcher, current, doc)
        except (FetchError, InvalidManifest) as err:
            on_error(WalkError(current, err.code, str(err)))
            continue
        for manifest in manifests:
            if manifest not in seen_manifests:
                seen_manifests.add(manifest)
                yield manifest
        children = [c for c in collections if c not in seen_collections]
        if children and depth + 1 > max_depth:
            on_error(WalkError(current, "too_deep", f"collections nested deeper than {max_depth}"))
            continue
        seen_collections.update(children)
        stack.extend((child, depth + 1, None) for child in reversed(children))


def _members_with_pages(fetcher: Fetcher, url: str, doc: Any) -> tuple[list[str], list[str]]:
    """Members of a collection and of all its pages (Presentation 2.1 paging)."""
    if not is_collection(doc):
        raise InvalidManifest(f"{url} is not a IIIF collection")
    manifests, collections = collection_members(doc)
    page_url = link_url(doc.get("first"))
    visited = {url}
    while page_url and page_url not in visited and len(visited) <= MAX_PAGES:
        visited.add(page_url)
        page = fetcher.get_json(page_url)
        found, nested = collection_members(page)
        manifests += found
        collections += nested
        page_url = link_url(page.get("next"))
    return manifests, collections


def link_url(value: Any) -> str:
    """The URL of a link given as a string or as an object with an ``@id``/``id``."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        found = value.get("@id") or value.get("id")
        return found if isinstance(found, str) else ""
    return ""


def read_list(fetcher: Fetcher, source: str) -> list[str]:
    """Manifest URLs from a plain list: a local file or a URL, JSON array or one URL a line."""
    path = Path(source)
    if "://" not in source and path.is_file():
        text = path.read_text(encoding="utf-8")
    else:
        text = fetcher.get(source, accept="application/json, text/plain").content.decode(
            "utf-8", "replace"
        )
    return parse_list(text, source)


def parse_list(text: str, source: str = "") -> list[str]:
    stripped = text.lstrip()
    if stripped.startswith("["):
        try:
            items = json.loads(stripped)
        except json.JSONDecodeError as err:
            raise InvalidManifest(f"{source}: not a JSON list of URLs: {err}") from err
        urls = [link_url(item) for item in items] if isinstance(items, list) else []
    else:
        lines = (line.strip() for line in text.splitlines())
        urls = [line for line in lines if line and not line.startswith("#")]
    bad = [u for u in urls if not u.startswith(("http://", "https://"))]
    if bad or not urls:
        raise InvalidManifest(f"{source}: expected a list of http(s) manifest URLs, got {bad[:3]}")
    return list(dict.fromkeys(urls))
