"""Read a IIIF Change Discovery 1.0 activity stream: what changed since the last run.

The stream is an ``OrderedCollection`` whose pages (``OrderedCollectionPage``) list activities
oldest first and link back with ``prev``. As the specification's consumer algorithm says, it is
read from the ``last`` page backwards, newest activity first, until an activity older than the
checkpoint; only the newest activity about each object counts. ``Create``, ``Update`` and ``Add``
ask for the object to be (re)analysed; ``Delete`` and ``Remove`` for it to be forgotten; ``Move``
forgets the old id and analyses the ``target``. A ``Refresh`` means the activities after it
describe everything, so reading stops there. The checkpoint kept for the next run is the
``endTime`` of the newest activity read, the publisher's own clock, so that our clock's skew
does not matter.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from service.harvest.walk import link_url
from service.iiif.fetch import Fetcher
from service.iiif.manifest import InvalidManifest

UPDATE_TYPES = frozenset({"Create", "Update", "Add"})
DELETE_TYPES = frozenset({"Delete", "Remove"})
MAX_PAGES = 100_000


@dataclass(frozen=True)
class Change:
    url: str
    kind: str  # the object's type: "Manifest" or "Collection"
    action: str  # "update" or "delete"
    time: str  # the activity's endTime (ISO 8601)


@dataclass(frozen=True)
class ChangeSet:
    changes: tuple[Change, ...]  # oldest first, one per object
    newest: str | None  # endTime of the newest activity read: the next checkpoint


def parse_time(value: Any) -> datetime:
    if not isinstance(value, str) or not value:
        raise InvalidManifest(f"activity without a usable endTime: {value!r}")
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as err:
        raise InvalidManifest(f"activity endTime {value!r} is not ISO 8601") from err
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def read_changes(fetcher: Fetcher, stream_url: str, since: str | None) -> ChangeSet:
    """The changes published after ``since`` (an endTime from a previous run, or None: all)."""
    stream = fetcher.get_json(stream_url)
    if not isinstance(stream, dict) or stream.get("type") != "OrderedCollection":
        raise InvalidManifest(f"{stream_url} is not an activity stream (OrderedCollection)")
    checkpoint = parse_time(since) if since else None
    page_url = link_url(stream.get("last"))
    if not page_url:
        raise InvalidManifest(f"{stream_url} has no last page")
    decided: dict[str, Change] = {}
    newest: str | None = None
    visited: set[str] = set()
    while page_url and page_url not in visited and len(visited) < MAX_PAGES:
        visited.add(page_url)
        page = fetcher.get_json(page_url)
        items = page.get("orderedItems") if isinstance(page, dict) else None
        if not isinstance(items, list):
            raise InvalidManifest(f"{page_url} is not an OrderedCollectionPage")
        for activity in reversed(items):
            time = activity.get("endTime") if isinstance(activity, dict) else None
            if checkpoint is not None and parse_time(time) <= checkpoint:
                return _result(decided, newest)
            newest = newest or str(time)
            if activity.get("type") == "Refresh":
                return _result(decided, newest)
            for change in _changes(activity, str(time)):
                decided.setdefault(change.url, change)
        page_url = link_url(page.get("prev"))
    return _result(decided, newest)


def _changes(activity: dict[str, Any], time: str) -> list[Change]:
    kind = activity.get("type")
    obj = activity.get("object")
    url, obj_type = link_url(obj), obj.get("type") if isinstance(obj, dict) else None
    if not url or obj_type not in ("Manifest", "Collection"):
        return []
    if kind in UPDATE_TYPES:
        return [Change(url, obj_type, "update", time)]
    if kind in DELETE_TYPES:
        return [Change(url, obj_type, "delete", time)]
    if kind == "Move":
        target = link_url(activity.get("target"))
        moved = [Change(target, obj_type, "update", time)] if target else []
        return [Change(url, obj_type, "delete", time), *moved]
    return []


def _result(decided: dict[str, Change], newest: str | None) -> ChangeSet:
    # `decided` was filled newest first; hand the changes back in publication order.
    return ChangeSet(tuple(reversed(list(decided.values()))), newest)
