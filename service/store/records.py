"""What the store holds and returns, and the one function that writes a run's results.

Results of a run are written in one transaction, so a crash leaves either the old results or the
new ones, never a mix. A run replaces what an earlier run of the same source stored (its motifs)
and what any run stored for the same canvases (their instances), so re-running never duplicates.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from service.iiif.manifest import ImageService
from service.iiif.placement import Placement
from service.store.tables import canvases, corpora, instances, manifests, motifs


@dataclass(frozen=True)
class CanvasRecord:
    key: str
    canvas_id: str
    manifest_url: str
    label: str
    width: int
    height: int


@dataclass(frozen=True)
class MotifRecord:
    id: str
    corpus: str
    width: int
    height: int
    parent: str | None
    instances: int
    has_prototype: bool


@dataclass
class RunResult:
    """Everything one job produced, saved at once by ``Store.save_result``."""

    corpus: str
    url: str
    manifests: list[tuple[str, int, dict[str, Any]]]  # (url, version, document)
    canvases: list[CanvasRecord]
    motifs: list[tuple[MotifRecord, bytes | None]]
    placements: list[Placement]
    decomposition: dict[str, Any]


def delete_results(
    conn: sa.Connection, canvas_keys: Sequence[str], corpus: str, manifest_urls: Sequence[str]
) -> None:
    """Remove what a corpus and its canvases hold: their instances, motifs, canvases and
    manifests. Run inside the caller's transaction, so a reader sees all of it or none."""
    conn.execute(instances.delete().where(instances.c.canvas_key.in_(list(canvas_keys))))
    old = sa.select(motifs.c.id).where(motifs.c.corpus == corpus)
    conn.execute(instances.delete().where(instances.c.motif.in_(old)))
    conn.execute(motifs.delete().where(motifs.c.corpus == corpus))
    conn.execute(canvases.delete().where(canvases.c.key.in_(list(canvas_keys))))
    conn.execute(manifests.delete().where(manifests.c.url.in_(list(manifest_urls))))
    conn.execute(corpora.delete().where(corpora.c.key == corpus))


def save_result(conn: sa.Connection, result: RunResult) -> None:
    keys = [c.key for c in result.canvases]
    delete_results(conn, keys, result.corpus, [url for url, _, _ in result.manifests])
    if result.manifests:
        conn.execute(
            manifests.insert(),
            [
                {"url": url, "version": version, "doc": json.dumps(doc)}
                for url, version, doc in result.manifests
            ],
        )
    if result.canvases:
        conn.execute(canvases.insert(), [vars(c) for c in result.canvases])
    if result.motifs:
        conn.execute(
            motifs.insert(),
            [
                {
                    "id": m.id,
                    "corpus": m.corpus,
                    "width": m.width,
                    "height": m.height,
                    "parent": m.parent,
                    "prototype": png,
                }
                for m, png in result.motifs
            ],
        )
    if result.placements:
        conn.execute(instances.insert(), [placement_row(p) for p in result.placements])
    conn.execute(
        corpora.insert().values(
            key=result.corpus,
            url=result.url,
            decomposition=json.dumps(result.decomposition),
            updated=time.time(),
        )
    )


def placement_row(p: Placement) -> dict[str, Any]:
    x, y, w, h = p.box
    return {
        "canvas_key": p.canvas_key,
        "motif": p.motif,
        "x": x,
        "y": y,
        "w": w,
        "h": h,
        "region": ",".join(map(str, p.region)),
        "image_url": p.image_url,
        "service_id": p.service.id if p.service else None,
        "service_version": p.service.version if p.service else None,
        "score": p.score,
        "rotation": p.rotation,
        "mirror": p.mirror,
        "ornament": p.ornament,
    }


def placement_from_row(row: Any) -> Placement:
    x, y, w, h = (int(v) for v in row["region"].split(","))
    service = ImageService(row["service_id"], row["service_version"]) if row["service_id"] else None
    return Placement(
        canvas_key=row["canvas_key"],
        motif=row["motif"],
        box=(row["x"], row["y"], row["w"], row["h"]),
        region=(x, y, w, h),
        image_url=row["image_url"],
        service=service,
        score=row["score"],
        rotation=row["rotation"],
        mirror=bool(row["mirror"]),
        ornament=row["ornament"],
    )


def job_json(row: Any) -> dict[str, Any]:
    return {
        "id": row["id"],
        row["kind"]: row["url"],
        "status": row["status"],
        "progress": {"done": row["done"], "total": row["total"]},
        "errors": json.loads(row["errors"]),
        "message": row["message"],
        "created": row["created"],
        "updated": row["updated"],
    }
