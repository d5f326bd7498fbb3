"""Jobs: fetch a manifest or collection, decompose its pages, store annotations and motifs.

A job is a row in the store; any process with a ``JobRunner`` may claim it, so jobs survive a
restart (a job whose worker stopped sending heartbeats is claimed again). Results are saved in
one transaction when the job ends; a cancelled or failed job leaves the stored results as they
were. The decomposition module is imported on first use, in the worker process, so that model
sessions are created after gunicorn forks.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import replace
from functools import partial
from typing import TYPE_CHECKING, Any

from service.config import load_config
from service.heartbeat import Heartbeat
from service.iiif.fetch import Fetcher, FetchError, FetchPolicy
from service.iiif.image import NotAnImage, decode, load_page
from service.iiif.manifest import (
    CanvasRef,
    ImageRef,
    InvalidManifest,
    collection_members,
    is_collection,
    parse_manifest,
    presentation_version,
)
from service.iiif.placement import integer_box
from service.results import LoadedImage, Source, build_result
from service.store import Store
from service.store.catalogues import CatalogueUpdate, StoredCatalogue

if TYPE_CHECKING:  # the decomposition is imported on first use (see the module's docstring)
    from service.decompose import Describer
    from service.decompose.pipeline import Discovery

log = logging.getLogger(__name__)
MAX_COLLECTION_DEPTH = 3


class InvalidUpload(ValueError):
    code, status = "not_an_image", 400


class JobCancelled(Exception):
    """The job was cancelled (or taken over) while it ran."""


def fetch_sources(fetcher: Fetcher, kind: str, url: str, max_manifests: int) -> list[Source]:
    """The manifests a job covers: one, or every manifest reachable from a collection."""
    pending: list[tuple[str, int]] = [(url, 0)]
    seen: set[str] = set()
    sources: list[Source] = []
    while pending and len(sources) < max_manifests:
        current, depth = pending.pop(0)
        if current in seen:
            continue
        seen.add(current)
        doc = fetcher.get_json(current)
        if is_collection(doc):
            if kind != "collection" and current == url:
                raise InvalidManifest(f'{url} is a collection; post it as "collection"')
            manifests, collections = collection_members(doc)
            pending.extend((m, depth + 1) for m in manifests)
            if depth + 1 < MAX_COLLECTION_DEPTH:
                pending.extend((c, depth + 1) for c in collections)
            continue
        sources.append(Source(current, presentation_version(doc), doc, parse_manifest(doc)))
    if not sources:
        raise InvalidManifest(f"{url} lists no manifest")
    return sources


def annotate(
    url: str, kind: str = "manifest", overrides: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """Analyse one manifest or collection now, in this process (``florilege annotate``).

    It goes through the same store as the service, so the service shows what the CLI did.
    Returns the finished job (status ``done`` or ``failed``, with per-canvas errors).
    """
    if kind not in ("manifest", "collection"):
        raise ValueError(f"kind must be manifest or collection, got {kind!r}")
    config = load_config(overrides)
    store = Store.from_config(config)
    try:
        fetcher = Fetcher(FetchPolicy.from_config(config))
        fetcher.check_url(url)
        job = store.create_job(kind, url)
        runner = JobRunner(store, fetcher, config)
        runner.run_once(f"{runner.worker}:cli", job["id"])
        return store.job(job["id"]) or job
    finally:
        store.close()


def decompose_upload(data: bytes, name: str, config: dict[str, Any]) -> dict[str, Any]:
    """Decompose one uploaded image; boxes are returned in the uploaded image's pixel frame."""
    try:
        pixels, (width, height) = decode(
            data, config["ANALYSIS_WIDTH"], config["MAX_IMAGE_PIXELS"], name
        )
    except NotAnImage as err:
        raise InvalidUpload(str(err)) from err
    from service.decompose import PageImage, decompose_images, describer_for

    describer = describer_for(config["BUNDLE"], config["PROVIDERS"])
    decomposition = decompose_images([PageImage(name, pixels)], describer=describer)
    sx, sy = width / pixels.shape[1], height / pixels.shape[0]

    def scaled(box: tuple[int, int, int, int]) -> tuple[int, int, int, int]:
        x, y, w, h = box
        return integer_box(x * sx, y * sy, w * sx, h * sy, width, height)

    pages = [
        replace(
            page,
            width=width,
            height=height,
            ornaments=[replace(o, bbox=scaled(o.bbox)) for o in page.ornaments],
            instances=[replace(i, bbox=scaled(i.bbox)) for i in page.instances],
        )
        for page in decomposition.pages
    ]
    return replace(decomposition, pages=pages).to_json()


class JobRunner:
    """Claims and runs jobs in background threads of this process."""

    def __init__(self, store: Store, fetcher: Fetcher, config: dict[str, Any]) -> None:
        self.store, self.fetcher, self.config = store, fetcher, config
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.worker = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"

    def start(self, threads: int) -> None:
        for index in range(threads):
            thread = threading.Thread(
                target=self._loop,
                args=(f"{self.worker}:{index}",),
                name=f"florilege-job-{index}",
                daemon=True,
            )
            thread.start()
            self._threads.append(thread)

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout)

    def run_pending(self, worker: str | None = None) -> int:
        """Run queued jobs in this thread until none is left; return how many ran."""
        ran = 0
        while self.run_once(worker or f"{self.worker}:sync"):
            ran += 1
        return ran

    def run_once(self, worker: str, job_id: str | None = None) -> bool:
        job = self.store.claim_job(worker, self.config["JOB_STALE_SECONDS"], job_id)
        if job is None:
            return False
        beat = partial(self.store.beat, job["id"], worker)
        try:
            # Beating from claim to end (a slow manifest included), so that only the job of a
            # worker that died ever looks stale to the others.
            with Heartbeat(beat, self.config["JOB_STALE_SECONDS"] / 4):
                self._run(job, worker)
        except JobCancelled:
            log.info("job %s cancelled", job["id"])
        except (FetchError, InvalidManifest) as err:
            self.store.finish_job(job["id"], worker, "failed", f"{err.code}: {err}")
        except Exception as err:  # a worker must outlive any one bad job
            log.exception("job %s failed", job["id"])
            self.store.finish_job(job["id"], worker, "failed", f"internal_error: {err!r}")
        return True

    def _loop(self, worker: str) -> None:
        while not self._stop.is_set():
            try:
                ran = self.run_once(worker)
            except Exception:  # e.g. the database is briefly unavailable: retry later
                log.exception("job runner %s", worker)
                ran = False
            if not ran:
                self._stop.wait(self.config["JOB_POLL_SECONDS"])

    def _run(self, job: dict[str, Any], worker: str) -> None:
        job_id = job["id"]
        sources = fetch_sources(self.fetcher, job["kind"], job["url"], self.config["MAX_CANVASES"])
        work = [
            (c, i, image)
            for s in sources
            for c in s.manifest.canvases
            for i, image in enumerate(c.images)
        ]
        canvases = [c for s in sources for c in s.manifest.canvases][: self.config["MAX_CANVASES"]]
        keep = {c.key for c in canvases}
        work = [w for w in work if w[0].key in keep]
        errors = [
            {"canvas": c.id, "code": "no_image", "message": "no painting image"}
            for c in canvases
            if not c.images
        ]
        loaded = self._load(job_id, worker, canvases, work, errors)
        if not loaded:
            raise InvalidManifest("no page image could be fetched")
        catalogue = self.store.job_catalogue(job_id)
        if catalogue is None:
            decomposition = self._discover(loaded, self._describer()).decomposition
            result = build_result(job["url"], sources, loaded, decomposition)
            saved = self.store.finish_job(job_id, worker, "done", result=result)
        else:
            saved = self._join_catalogue(job, worker, catalogue, sources, loaded)
        if not saved:
            raise JobCancelled(job_id)

    def _load(
        self,
        job_id: str,
        worker: str,
        canvases: list[CanvasRef],
        work: list[tuple[CanvasRef, int, ImageRef]],
        errors: list[dict[str, str]],
    ) -> dict[str, LoadedImage]:
        loaded: dict[str, LoadedImage] = {}
        remaining = {c.key: len(c.images) for c in canvases}
        done = sum(1 for c in canvases if not c.images)
        if not self.store.progress(job_id, worker, done, len(canvases), errors):
            raise JobCancelled(job_id)
        width, budget = self.config["ANALYSIS_WIDTH"], self.config["MAX_IMAGE_PIXELS"]
        with ThreadPoolExecutor(max_workers=self.config["FETCH_PER_HOST"]) as pool:
            futures = {
                pool.submit(load_page, self.fetcher, image, width, budget): (canvas, i, image)
                for canvas, i, image in work
            }
            for future in as_completed(futures):
                canvas, index, image = futures[future]
                try:
                    loaded[f"{canvas.key}/{index}"] = LoadedImage(canvas, image, future.result())
                except FetchError as err:
                    errors.append(
                        {
                            "canvas": canvas.id,
                            "image": image.url,
                            "code": err.code,
                            "message": str(err),
                        }
                    )
                remaining[canvas.key] -= 1
                done += remaining[canvas.key] == 0
                if not self.store.progress(job_id, worker, done, len(canvases), errors):
                    for pending in futures:
                        pending.cancel()
                    raise JobCancelled(job_id)
        # Pages reach the decomposition in manifest order, whatever order they arrived in, so
        # that a re-run of the same manifest gives the same motifs under the same ids.
        order = [f"{canvas.key}/{index}" for canvas, index, _ in work]
        return {name: loaded[name] for name in order if name in loaded}

    def _discover(self, loaded: dict[str, LoadedImage], describer: Describer) -> Discovery:
        from service.decompose import PageImage
        from service.decompose.pipeline import discover

        pages = [PageImage(name, item.raster.pixels) for name, item in loaded.items()]
        return discover(pages, describer=describer)

    def _describer(self) -> Describer:
        from service.decompose import describer_for

        # Loaded on first use in this process: each gunicorn worker opens its own onnxruntime
        # session after the fork.
        return describer_for(self.config["BUNDLE"], self.config["PROVIDERS"])

    def _join_catalogue(
        self,
        job: dict[str, Any],
        worker: str,
        catalogue: str,
        sources: Sequence[Source],
        loaded: dict[str, LoadedImage],
    ) -> bool:
        """Analyse the book's pages here, in parallel with other books; then match their
        instances against the collection's motifs and save, matching again if another book
        saved first (``Store.finish_in_catalogue``)."""
        from service.decompose.catalogue import assign, new_motif_views
        from service.decompose.pipeline import KnownMotifs

        describer = self._describer()
        # discover's own clustering of the book is dropped; its findings are the pipeline's
        # final ones (pieces of one block already joined), whatever steps it takes to them.
        findings = self._discover(loaded, describer).findings

        def match(stored: StoredCatalogue) -> CatalogueUpdate:
            known = None
            if stored.descriptor is not None:
                known = KnownMotifs(stored.descriptor, stored.ids, stored.views)
            discovery = assign(findings, known, describer)
            result = build_result(
                job["url"], sources, loaded, discovery.decomposition, catalogue, stored.ids
            )
            return CatalogueUpdate(result, describer.name, new_motif_views(discovery))

        return self.store.finish_in_catalogue(job["id"], worker, catalogue, match)
