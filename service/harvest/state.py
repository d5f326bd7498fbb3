"""Harvest state, kept in the store's database beside the jobs, so that a harvest resumes.

A harvest row names the source and who drives it (worker id and heartbeat). Its items are the
manifests found, one row each, keyed by (harvest, URL hash) so that walking the source again
after a crash adds nothing twice. An item points to the manifest job that analyses it; the job
saves its results in one transaction (``Store.finish_job``) that replaces what an earlier run of
the same canvases stored, so running an item again never duplicates annotations. Change
Discovery checkpoints are kept per stream and moved forward only when a harvest finishes.
"""

from __future__ import annotations

import hashlib
import os
import socket
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from service.store.tables import create_tables

metadata = sa.MetaData()

harvests = sa.Table(
    "harvests",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("url", sa.Text, nullable=False),
    sa.Column("mode", sa.String(16), nullable=False),
    # walking, running, then done, failed (the source itself unreadable) or cancelled
    sa.Column("status", sa.String(16), nullable=False, index=True),
    sa.Column("worker", sa.String(96)),
    sa.Column("heartbeat", sa.Float),
    sa.Column("until", sa.Text),  # Change Discovery: the checkpoint this harvest will set
    sa.Column("message", sa.Text),
    sa.Column("created", sa.Float, nullable=False),
    sa.Column("updated", sa.Float, nullable=False),
)
harvest_items = sa.Table(
    "harvest_items",
    metadata,
    sa.Column("harvest", sa.String(32), primary_key=True),
    sa.Column("key", sa.String(40), primary_key=True),
    sa.Column("url", sa.Text, nullable=False),
    sa.Column("position", sa.Integer, nullable=False),
    sa.Column("action", sa.String(16), nullable=False),  # update, delete, walk
    # pending, done, failed, skipped (analysed before), forget (deleted upstream)
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("job", sa.String(32)),
    sa.Column("pages", sa.Integer, nullable=False, default=0),
    sa.Column("message", sa.Text),
)
checkpoints = sa.Table(
    "harvest_checkpoints",
    metadata,
    sa.Column("key", sa.String(40), primary_key=True),
    sa.Column("url", sa.Text, nullable=False),
    sa.Column("newest", sa.Text, nullable=False),
    sa.Column("updated", sa.Float, nullable=False),
)

FINAL = ("done", "failed", "skipped", "forget")  # of an item
ACTIVE = ("walking", "running")  # of a harvest: anything else has ended


class HarvestBusy(RuntimeError):
    """Another live process is driving this harvest."""


@dataclass(frozen=True)
class Item:
    url: str
    action: str = "update"
    status: str = "pending"
    message: str | None = None


def url_key(url: str) -> str:
    return hashlib.sha256(url.encode()).hexdigest()[:40]


def new_worker() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def worker_is_dead(worker: str | None) -> bool:
    """True when ``worker`` was a process of this host that no longer runs.

    A SIGKILLed CLI leaves its heartbeat behind; on the same host its death is certain at once,
    elsewhere only the heartbeat going stale tells.
    """
    if not worker:
        return True
    host, _, rest = worker.partition(":")
    pid = rest.partition(":")[0]
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def _active_of(url: str, mode: str) -> sa.Select[Any]:
    """The unfinished harvests of ``url`` read in ``mode``."""
    return harvests.select().where(
        harvests.c.url == url, harvests.c.mode == mode, harvests.c.status.in_(ACTIVE)
    )


class HarvestState:
    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        create_tables(metadata, engine)

    def open(self, url: str, mode: str, worker: str, stale_seconds: float) -> tuple[str, bool]:
        """The unfinished harvest of ``url`` taken over by ``worker`` (resumed: True), or a
        new one; raise ``HarvestBusy`` if a live worker still drives it."""
        now = time.time()
        query = _active_of(url, mode).order_by(harvests.c.created.desc())
        with self.engine.begin() as conn:
            row = conn.execute(query).mappings().first()
            if row is None:
                return _insert_harvest(conn, url, mode, now, worker), False
            stale = (row["heartbeat"] or 0) < now - stale_seconds
            if not (stale or worker_is_dead(row["worker"])):
                raise HarvestBusy(f"harvest {row['id']} of {url} is driven by {row['worker']}")
            taken = conn.execute(
                harvests.update()
                .where(harvests.c.id == row["id"], harvests.c.worker == row["worker"])
                .values(worker=worker, heartbeat=now, updated=now)
            ).rowcount
            if not taken:
                raise HarvestBusy(f"harvest {row['id']} of {url} was just taken over")
            return str(row["id"]), True

    def submit(self, url: str, mode: str) -> str:
        """Queue a harvest of ``url`` for any process to run (``open`` takes it over at once,
        having no worker); an unfinished harvest of the same source is returned instead."""
        now = time.time()
        with self.engine.begin() as conn:
            row = conn.execute(_active_of(url, mode)).mappings().first()
            if row is not None:
                return str(row["id"])
            return _insert_harvest(conn, url, mode, now)

    def unfinished(self) -> list[dict[str, Any]]:
        query = harvests.select().where(harvests.c.status.in_(ACTIVE)).order_by(harvests.c.created)
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(query).mappings()]

    def harvest(self, harvest_id: str) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            row = conn.execute(harvests.select().where(harvests.c.id == harvest_id)).mappings()
            found = row.first()
        return dict(found) if found else None

    def latest(self, url: str) -> dict[str, Any] | None:
        query = harvests.select().where(harvests.c.url == url)
        with self.engine.connect() as conn:
            found = conn.execute(query.order_by(harvests.c.created.desc())).mappings().first()
        return dict(found) if found else None

    def beat(self, harvest_id: str, worker: str) -> bool:
        """Refresh our heartbeat; False when another worker has taken the harvest over or it
        was cancelled."""
        mine = sa.and_(
            harvests.c.id == harvest_id,
            harvests.c.worker == worker,
            harvests.c.status.in_(ACTIVE),
        )
        with self.engine.begin() as conn:
            return bool(
                conn.execute(harvests.update().where(mine).values(heartbeat=time.time())).rowcount
            )

    def cancel(self, harvest_id: str) -> list[str]:
        """Cancel an active harvest; return the jobs of its unfinished items, for the caller to
        cancel too (none when the harvest had already ended)."""
        active = sa.and_(harvests.c.id == harvest_id, harvests.c.status.in_(ACTIVE))
        unfinished = sa.select(harvest_items.c.job).where(
            harvest_items.c.harvest == harvest_id,
            harvest_items.c.status == "pending",
            harvest_items.c.job.is_not(None),
        )
        with self.engine.begin() as conn:
            changed = conn.execute(
                harvests.update().where(active).values(status="cancelled", updated=time.time())
            ).rowcount
            return list(conn.execute(unfinished).scalars()) if changed else []

    def set_status(
        self, harvest_id: str, status: str, until: str | None = None, message: str | None = None
    ) -> None:
        """Move an active harvest on; one that has ended (cancelled meanwhile) stays as it is."""
        values: dict[str, Any] = {"status": status, "updated": time.time(), "message": message}
        if until is not None:
            values["until"] = until
        active = sa.and_(harvests.c.id == harvest_id, harvests.c.status.in_(ACTIVE))
        with self.engine.begin() as conn:
            conn.execute(harvests.update().where(active).values(**values))

    def add_items(self, harvest_id: str, items: Iterable[Item]) -> int:
        """Add items not already there (by URL); return how many were new."""
        batch = list(items)
        with self.engine.begin() as conn:
            where = harvest_items.c.harvest == harvest_id
            known = set(conn.execute(sa.select(harvest_items.c.key).where(where)).scalars())
            start = conn.execute(sa.select(sa.func.count()).where(where)).scalar_one()
            rows: list[dict[str, Any]] = []
            for item in batch:
                key = url_key(item.url)
                if key in known:
                    continue
                known.add(key)
                rows.append(
                    {
                        "harvest": harvest_id,
                        "key": key,
                        "url": item.url,
                        "position": start + len(rows),
                        "action": item.action,
                        "status": item.status,
                        "pages": 0,
                        "message": item.message,
                    }
                )
            if rows:
                conn.execute(harvest_items.insert(), rows)
        return len(rows)

    def items(self, harvest_id: str, statuses: Sequence[str] | None = None) -> list[dict[str, Any]]:
        query = harvest_items.select().where(harvest_items.c.harvest == harvest_id)
        if statuses is not None:
            query = query.where(harvest_items.c.status.in_(list(statuses)))
        with self.engine.connect() as conn:
            rows = conn.execute(query.order_by(harvest_items.c.position)).mappings()
            return [dict(r) for r in rows]

    def update_item(self, harvest_id: str, url: str, **values: Any) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                harvest_items.update()
                .where(harvest_items.c.harvest == harvest_id, harvest_items.c.key == url_key(url))
                .values(**values)
            )

    def summary(self, harvest_id: str) -> dict[str, Any]:
        """Counts of items by status and pages analysed: the harvest's progress."""
        query = (
            sa.select(harvest_items.c.status, sa.func.count(), sa.func.sum(harvest_items.c.pages))
            .where(harvest_items.c.harvest == harvest_id, harvest_items.c.action != "walk")
            .group_by(harvest_items.c.status)
        )
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        counts = {status: int(n) for status, n, _ in rows}
        pages = sum(int(p or 0) for _, _, p in rows)
        total = sum(counts.values())
        done = sum(n for status, n in counts.items() if status in FINAL)
        return {"done": done, "total": total, "pages": pages, "by_status": counts}

    def checkpoint(self, stream_url: str) -> str | None:
        query = sa.select(checkpoints.c.newest).where(checkpoints.c.key == url_key(stream_url))
        with self.engine.connect() as conn:
            return conn.execute(query).scalar()

    def save_checkpoint(self, stream_url: str, newest: str) -> None:
        key = url_key(stream_url)
        with self.engine.begin() as conn:
            conn.execute(checkpoints.delete().where(checkpoints.c.key == key))
            conn.execute(
                checkpoints.insert().values(
                    key=key, url=stream_url, newest=newest, updated=time.time()
                )
            )


def _insert_harvest(
    conn: sa.Connection, url: str, mode: str, now: float, worker: str | None = None
) -> str:
    """A new harvest row, being walked; without a worker (and so with no heartbeat yet) it
    waits for any process to take it over."""
    harvest_id = uuid.uuid4().hex
    conn.execute(
        harvests.insert().values(
            id=harvest_id,
            url=url,
            mode=mode,
            status="walking",
            worker=worker,
            heartbeat=now if worker else 0.0,
            created=now,
            updated=now,
        )
    )
    return harvest_id
