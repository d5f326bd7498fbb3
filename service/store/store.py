"""The store: jobs and results in any SQLAlchemy database (a SQLite file by default)."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from service.iiif.placement import Placement
from service.store import catalogues
from service.store.records import (
    CanvasRecord,
    MotifRecord,
    RunResult,
    delete_results,
    job_json,
    placement_from_row,
    save_result,
)
from service.store.tables import (
    canvases,
    corpora,
    create_tables,
    instances,
    jobs,
    manifests,
    metadata,
    motifs,
)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets readers go on while a job writes; the busy timeout makes writers wait, not fail.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def _silent(since: float) -> sa.ColumnElement[bool]:
    """Running jobs whose worker has not beaten since ``since``: it died, or hung."""
    return sa.and_(jobs.c.status == "running", jobs.c.heartbeat < since)


def _end_job(
    conn: sa.Connection, job_id: str, worker: str, status: str, message: str | None
) -> bool:
    """Set a running job's final status, if the job is still ``worker``'s."""
    mine = sa.and_(jobs.c.id == job_id, jobs.c.worker == worker, jobs.c.status == "running")
    ended = jobs.update().where(mine).values(status=status, message=message, updated=time.time())
    return bool(conn.execute(ended).rowcount)


class Store:
    def __init__(self, url: str) -> None:
        self.engine = sa.create_engine(url, future=True)
        if self.engine.dialect.name == "sqlite":
            sa.event.listen(self.engine, "connect", _sqlite_pragmas)
        create_tables(metadata, self.engine)

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Store:
        """The store named by ``FLORILEGE_DB``, creating the data directory a SQLite file needs."""
        url = config["DB"]
        if url.startswith("sqlite:///") and not url.startswith("sqlite:///:"):
            Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        return cls(url)

    def close(self) -> None:
        self.engine.dispose()

    # ---- jobs -------------------------------------------------------------------------
    def create_job(
        self, kind: str, url: str, catalogue: tuple[str, str] | None = None
    ) -> dict[str, Any]:
        """A queued job; with ``catalogue`` (its key and source URL) the job's motifs join that
        collection's catalogue instead of forming a corpus of their own."""
        now = time.time()
        job_id = uuid.uuid4().hex
        row: dict[str, Any] = {
            "id": job_id,
            "kind": kind,
            "url": url,
            "status": "queued",
            "done": 0,
            "total": 0,
            "errors": "[]",
            "created": now,
            "updated": now,
        }
        with self.engine.begin() as conn:
            conn.execute(jobs.insert().values(**row))
            if catalogue is not None:
                catalogues.attach(conn, job_id, *catalogue)
        return self.job(job_id) or {}

    def job_catalogue(self, job_id: str) -> str | None:
        with self.engine.connect() as conn:
            return catalogues.of_job(conn, job_id)

    def job(self, job_id: str) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            row = conn.execute(jobs.select().where(jobs.c.id == job_id)).mappings().first()
        return job_json(row) if row else None

    def list_jobs(self, limit: int = 100) -> list[dict[str, Any]]:
        query = jobs.select().order_by(jobs.c.created.desc()).limit(limit)
        with self.engine.connect() as conn:
            return [job_json(r) for r in conn.execute(query).mappings()]

    def claim_job(
        self, worker: str, stale_seconds: float, job_id: str | None = None
    ) -> dict[str, Any] | None:
        """Atomically take the oldest queued job (or ``job_id``), or a running one whose worker
        went silent."""
        now = time.time()
        claimable = sa.or_(jobs.c.status == "queued", _silent(now - stale_seconds))
        if job_id is not None:
            claimable = sa.and_(claimable, jobs.c.id == job_id)
        with self.engine.begin() as conn:
            candidates = (
                conn.execute(
                    sa.select(jobs.c.id).where(claimable).order_by(jobs.c.created).limit(5)
                )
                .scalars()
                .all()
            )
            for candidate in candidates:
                taken = conn.execute(
                    jobs.update()
                    .where(jobs.c.id == candidate, claimable)
                    .values(
                        status="running",
                        worker=worker,
                        heartbeat=now,
                        updated=now,
                        done=0,
                        errors="[]",
                        message=None,
                    )
                ).rowcount
                if taken:
                    query = jobs.select().where(jobs.c.id == candidate)
                    row = conn.execute(query).mappings().one()
                    return dict(row)
        return None

    def job_pending(self, job_id: str, stale_seconds: float) -> bool:
        """Whether the job is yet to end: queued, or running with a fresh heartbeat."""
        fresh = sa.and_(jobs.c.status == "running", jobs.c.heartbeat >= time.time() - stale_seconds)
        pending = sa.or_(jobs.c.status == "queued", fresh)
        query = sa.select(sa.func.count()).where(jobs.c.id == job_id, pending)
        with self.engine.connect() as conn:
            return bool(conn.execute(query).scalar_one())

    def requeue_stale(self, job_id: str, stale_seconds: float) -> None:
        """Queue again a running job whose worker went silent, for another worker to take."""
        now = time.time()
        stale = sa.and_(jobs.c.id == job_id, _silent(now - stale_seconds))
        with self.engine.begin() as conn:
            conn.execute(
                jobs.update().where(stale).values(status="queued", worker=None, updated=now)
            )

    def progress(
        self, job_id: str, worker: str, done: int, total: int, errors: Sequence[dict[str, str]]
    ) -> bool:
        """Record progress; False when the job is no longer ours (cancelled or taken over)."""
        now = time.time()
        with self.engine.begin() as conn:
            return bool(
                conn.execute(
                    jobs.update()
                    .where(jobs.c.id == job_id, jobs.c.worker == worker, jobs.c.status == "running")
                    .values(
                        done=done,
                        total=total,
                        errors=json.dumps(list(errors)),
                        heartbeat=now,
                        updated=now,
                    )
                ).rowcount
            )

    def beat(self, job_id: str, worker: str) -> bool:
        with self.engine.begin() as conn:
            return bool(
                conn.execute(
                    jobs.update()
                    .where(jobs.c.id == job_id, jobs.c.worker == worker, jobs.c.status == "running")
                    .values(heartbeat=time.time())
                ).rowcount
            )

    def finish_job(
        self,
        job_id: str,
        worker: str,
        status: str,
        message: str | None = None,
        result: RunResult | None = None,
    ) -> bool:
        """End a job; its results (if any) are saved in the same transaction or not at all."""
        with self.engine.begin() as conn:
            changed = _end_job(conn, job_id, worker, status, message)
            if changed and result is not None:
                save_result(conn, result)
        return changed

    def finish_in_catalogue(
        self, job_id: str, worker: str, catalogue: str, match: catalogues.Match
    ) -> bool:
        """End a job whose motifs join ``catalogue``: ``match`` runs on the catalogue as read,
        and what it gives is saved with the job's end in one transaction, unless another book
        saved first: then it runs again (see ``service/store/catalogues.py``)."""
        while True:
            with self.engine.connect() as conn:
                stored = catalogues.read(conn, catalogue)
            outcome = match(stored)
            with self.engine.connect() as conn, conn.begin() as transaction:
                if not _end_job(conn, job_id, worker, "done", None):
                    return False
                if catalogues.save(conn, catalogue, stored.version, outcome):
                    return True
                transaction.rollback()  # the job goes on running, to match again

    def cancel_job(self, job_id: str) -> dict[str, Any] | None:
        with self.engine.begin() as conn:
            conn.execute(
                jobs.update()
                .where(jobs.c.id == job_id, jobs.c.status.in_(("queued", "running")))
                .values(status="cancelled", updated=time.time())
            )
        return self.job(job_id)

    def job_counts(self) -> dict[str, int]:
        query = sa.select(jobs.c.status, sa.func.count()).group_by(jobs.c.status)
        with self.engine.connect() as conn:
            return {status: int(n) for status, n in conn.execute(query)}

    # ---- results ----------------------------------------------------------------------
    def save_result(self, result: RunResult) -> None:
        with self.engine.begin() as conn:
            save_result(conn, result)

    def forget_manifest(self, url: str, corpus: str) -> None:
        """Remove everything stored of the manifest ``url`` analysed as ``corpus`` (a book
        deleted upstream); nothing else is touched."""
        with self.engine.begin() as conn:
            keys = conn.execute(
                sa.select(canvases.c.key).where(canvases.c.manifest_url == url)
            ).scalars()
            delete_results(conn, list(keys), corpus, [url])

    def manifest(self, url: str) -> tuple[int, dict[str, Any]] | None:
        with self.engine.connect() as conn:
            row = conn.execute(manifests.select().where(manifests.c.url == url)).first()
        return (row.version, json.loads(row.doc)) if row else None

    def canvas(self, key: str) -> CanvasRecord | None:
        with self.engine.connect() as conn:
            row = conn.execute(canvases.select().where(canvases.c.key == key)).mappings().first()
        return CanvasRecord(**row) if row else None

    def canvas_labels(self, keys: Iterable[str]) -> dict[str, str]:
        query = sa.select(canvases.c.key, canvases.c.label).where(canvases.c.key.in_(list(keys)))
        with self.engine.connect() as conn:
            return {key: label for key, label in conn.execute(query)}

    def placements(
        self, *, canvas_key: str | None = None, motif: str | None = None
    ) -> list[Placement]:
        query = instances.select().order_by(instances.c.score.desc(), instances.c.id)
        if canvas_key is not None:
            query = query.where(instances.c.canvas_key == canvas_key)
        if motif is not None:
            query = query.where(instances.c.motif == motif)
        with self.engine.connect() as conn:
            return [placement_from_row(r) for r in conn.execute(query).mappings()]

    def motifs(self) -> list[MotifRecord]:
        return self._motifs(None)

    def motif(self, motif_id: str) -> MotifRecord | None:
        found = self._motifs(motif_id)
        return found[0] if found else None

    def _motifs(self, motif_id: str | None) -> list[MotifRecord]:
        count = sa.select(sa.func.count()).where(instances.c.motif == motifs.c.id).scalar_subquery()
        query = sa.select(
            motifs.c.id,
            motifs.c.corpus,
            motifs.c.width,
            motifs.c.height,
            motifs.c.parent,
            count.label("instances"),
            (motifs.c.prototype.is_not(None)).label("has_prototype"),
        ).order_by(motifs.c.id)
        if motif_id is not None:
            query = query.where(motifs.c.id == motif_id)
        with self.engine.connect() as conn:
            return [MotifRecord(**r) for r in conn.execute(query).mappings()]

    def prototype(self, motif_id: str) -> bytes | None:
        query = sa.select(motifs.c.prototype).where(motifs.c.id == motif_id)
        with self.engine.connect() as conn:
            return conn.execute(query).scalar()

    def decomposition(self, corpus: str) -> dict[str, Any] | None:
        query = sa.select(corpora.c.decomposition).where(corpora.c.key == corpus)
        with self.engine.connect() as conn:
            doc = conn.execute(query).scalar()
        return json.loads(doc) if doc else None

    def counts(self) -> dict[str, int]:
        with self.engine.connect() as conn:
            return {
                name: int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())
                for name, table in (
                    ("canvases", canvases),
                    ("motifs", motifs),
                    ("instances", instances),
                )
            }
