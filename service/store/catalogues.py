"""A collection's motif catalogue in the store, updated one book at a time.

Each book of a harvest is analysed on its own, in parallel with others; then its instances are
matched against the catalogue as it stands, and the motifs that fit none are added. Matching
and saving happen in one transaction that first locks the catalogue's row, so the writers of a
catalogue go one at a time: two books never number a new motif alike, and a book killed before
its commit added nothing (its rerun matches again, finding the motifs it had itself added).
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


def update(conn: sa.Connection, key: str, match: Match) -> None:
    """Match a book against catalogue ``key`` and save the outcome, inside the caller's
    transaction, which must already hold the write that makes this job's results its own."""
    conn.execute(
        catalogues.update().where(catalogues.c.key == key).values(version=catalogues.c.version + 1)
    )
    outcome = match(_read(conn, key))
    if outcome.views:
        conn.execute(
            catalogue_views.insert(),
            [
                {"catalogue": key, "motif": motif, "views": np.asarray(v, np.float32).tobytes()}
                for motif, v in outcome.views.items()
            ],
        )
        conn.execute(
            catalogues.update().where(catalogues.c.key == key).values(descriptor=outcome.descriptor)
        )
    save_result(conn, outcome.result)


def _read(conn: sa.Connection, key: str) -> StoredCatalogue:
    descriptor = conn.execute(
        sa.select(catalogues.c.descriptor).where(catalogues.c.key == key)
    ).scalar()
    rows = conn.execute(
        sa.select(catalogue_views.c.motif, catalogue_views.c.views)
        .where(catalogue_views.c.catalogue == key)
        .order_by(catalogue_views.c.motif)
    ).all()
    views = [np.frombuffer(blob, np.float32).reshape(8, -1) for _, blob in rows]
    stacked = np.stack(views) if views else np.zeros((0, 8, 0), np.float32)
    return StoredCatalogue(descriptor, [motif for motif, _ in rows], stacked)
