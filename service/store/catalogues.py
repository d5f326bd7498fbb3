"""A collection's motif catalogue in the store, updated one book at a time.

Each book of a harvest is analysed on its own, in parallel with others; then its instances are
matched against the catalogue as it stands, and the motifs that fit none are added. Matching
is slow next to a write (seconds for a book of twenty pages), so it runs outside any
transaction, on the catalogue as read, with its version; the outcome is saved with the job's
end in one short transaction, only if the version is still the same (compare and set), else
the book is matched again on the new catalogue. So no writer waits on another's matching (a
SQLite write lock held that long would stall every job's progress), two books never number a
new motif alike, and a book killed before its commit added nothing (its rerun matches again,
finding the motifs it had itself added).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from service.store.records import RunResult, save_result
from service.store.tables import catalogue_views, catalogues, job_catalogues


@dataclass(frozen=True)
class StoredCatalogue:
    version: int  # bumped by every save
    descriptor: str | None  # None until a first book added motifs
    ids: list[str]
    views: np.ndarray  # (K, 8, D) float32, aligned with ids


@dataclass(frozen=True)
class CatalogueUpdate:
    """What matching one book against a catalogue gives: its results, and its new motifs'
    views by id (the motif records themselves are in ``result.motifs``)."""

    result: RunResult
    descriptor: str
    views: dict[str, np.ndarray]


Match = Callable[[StoredCatalogue], CatalogueUpdate]


def attach(conn: sa.Connection, job_id: str, key: str, url: str) -> None:
    """Make ``job_id`` add to the catalogue ``key`` of the source ``url`` (created if new)."""
    # Insert unless present, without a race between two first books (SQLite and PostgreSQL).
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    row = dialect.insert(catalogues).values(key=key, url=url, version=0)
    conn.execute(row.on_conflict_do_nothing())
    conn.execute(job_catalogues.insert().values(job=job_id, catalogue=key))


def of_job(conn: sa.Connection, job_id: str) -> str | None:
    query = sa.select(job_catalogues.c.catalogue).where(job_catalogues.c.job == job_id)
    return conn.execute(query).scalar()


def read(conn: sa.Connection, key: str) -> StoredCatalogue:
    # The version first: a save that lands between the two reads then fails its compare and
    # set, instead of pairing newer motifs with an older version.
    version, descriptor = conn.execute(
        sa.select(catalogues.c.version, catalogues.c.descriptor).where(catalogues.c.key == key)
    ).one()
    rows = conn.execute(
        sa.select(catalogue_views.c.motif, catalogue_views.c.views)
        .where(catalogue_views.c.catalogue == key)
        .order_by(catalogue_views.c.motif)
    ).all()
    views = [np.frombuffer(blob, np.float32).reshape(8, -1) for _, blob in rows]
    stacked = np.stack(views) if views else np.zeros((0, 8, 0), np.float32)
    return StoredCatalogue(version, descriptor, [motif for motif, _ in rows], stacked)


def save(conn: sa.Connection, key: str, version: int, outcome: CatalogueUpdate) -> bool:
    """Save a book's outcome, matched on catalogue ``key`` at ``version``, inside the caller's
    transaction; False (nothing written) when another book has saved since."""
    current = sa.and_(catalogues.c.key == key, catalogues.c.version == version)
    values: dict[str, object] = {"version": version + 1}
    if outcome.views:
        values["descriptor"] = outcome.descriptor
    if not conn.execute(catalogues.update().where(current).values(**values)).rowcount:
        return False
    if outcome.views:
        conn.execute(
            catalogue_views.insert(),
            [
                {"catalogue": key, "motif": motif, "views": np.asarray(v, np.float32).tobytes()}
                for motif, v in outcome.views.items()
            ],
        )
    save_result(conn, outcome.result)
    return True
