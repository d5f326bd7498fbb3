"""Harvests end to end: real IIIF servers on 127.0.0.1, real jobs, the store, faults, resume."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from service.harvest.driver import HarvestOptions, harvest, harvest_json, run_pending, submit
from service.harvest.state import HarvestBusy, HarvestState, Item, new_worker
from service.iiif.fetch import Fetcher, FetchPolicy
from service.results import corpus_key
from service.store import Store
from tests.conftest import IIIFSite, manifest_v2, manifest_v3

ROOT = Path(__file__).resolve().parents[2]
V3 = "http://iiif.io/api/presentation/3/context.json"
AS = ["http://iiif.io/api/discovery/1/context.json", "https://www.w3.org/ns/activitystreams"]
QUIET = HarvestOptions(progress=False)


def collection(site: IIIFSite, path: str, manifests: list[str]) -> str:
    items = [{"id": m, "type": "Manifest", "label": {"en": ["m"]}} for m in manifests]
    doc = {"@context": V3, "id": site.static(path), "type": "Collection", "items": items}
    return site.publish(path, doc)


def book(site: IIIFSite, name: str, images: list[str], delay: float = 0.0) -> str:
    """A one-book manifest; with ``delay`` it is served slowly by the scripted server."""
    doc = manifest_v3(site, name, images)
    if not delay:
        return site.publish(f"{name}/manifest.json", doc)
    headers = {"Content-Type": "application/json", "X-Delay": str(delay)}
    return site.script(f"{name}/manifest.json", (200, headers, json.dumps(doc).encode()))


@contextmanager
def opened(config: dict[str, Any]) -> Iterator[tuple[Store, HarvestState]]:
    store = Store(config["DB"])
    try:
        yield store, HarvestState(store.engine)
    finally:
        store.close()


def placements(config: dict[str, Any]) -> list[tuple[Any, ...]]:
    """The stored annotations, less their scores: a score is measured against the motif's
    prototype in the collection catalogue, which the first book with that motif set, and books
    that run at once may end in either order."""
    with opened(config) as (store, _):
        return sorted(
            (p.canvas_key, p.motif, p.box, p.rotation, p.mirror) for p in store.placements()
        )


def jobs(config: dict[str, Any]) -> list[dict[str, Any]]:
    with opened(config) as (store, _):
        return store.list_jobs(1000)


def job_count(config: dict[str, Any]) -> int:
    return len(jobs(config))


def test_collection_with_faults(app_config: dict[str, Any], iiif_site: IIIFSite) -> None:
    """A 500 then success, a 404 image, a broken manifest, a too-slow server, a v2 book."""
    flaky = manifest_v3(iiif_site, "f-flaky", ["page1"])
    members = [
        book(iiif_site, "f-good", ["page1", "page2"]),
        iiif_site.script(
            "f-flaky/manifest.json",
            (500, {}, b""),
            (200, {"Content-Type": "application/json"}, json.dumps(flaky).encode()),
        ),
        book(iiif_site, "f-hole", ["page2", "missing"]),
        iiif_site.publish("f-broken/manifest.json", {"@context": V3, "type": "Manifest"}),
        book(iiif_site, "f-slow", ["page1"], delay=1.5),
        iiif_site.publish("f-v2/manifest.json", manifest_v2(iiif_site, "f-v2", ["page1"])),
    ]
    url = collection(iiif_site, "f/collection.json", members)
    config = {**app_config, "FETCH_TIMEOUT": 0.5}
    summary = harvest(url, QUIET, config)
    assert summary["status"] == "done" and summary["mode"] == "collection"
    progress = summary["progress"]
    assert progress["by_status"] == {"done": 4, "failed": 2}
    assert progress["done"] == progress["total"] == 6
    assert progress["pages"] == 2 + 1 + 2 + 1  # every canvas of the analysed books
    failed = {Path(e["url"]).parent.name: e["message"] for e in summary["errors"]}
    assert failed.keys() == {"f-broken", "f-slow"}
    assert failed["f-broken"].startswith("invalid_manifest")
    assert failed["f-slow"].startswith("upstream_timeout")
    with opened(config) as (_, state):
        hole = [i for i in state.items(summary["id"]) if "f-hole" in i["url"]][0]
    assert hole["status"] == "done" and "upstream_not_found" in hole["message"]
    # Annotations for every page that could be fetched: 2 + 1 + 1 + 1 canvases with instances.
    assert len({p[0] for p in placements(config)}) == 5


def test_a_second_run_skips_what_is_stored(app_config: dict[str, Any], iiif_site: IIIFSite) -> None:
    url = collection(iiif_site, "s/collection.json", [book(iiif_site, "s-a", ["page1"])])
    first = harvest(url, QUIET, app_config)
    assert first["progress"]["by_status"] == {"done": 1} and not first["resumed"]
    jobs, stored = job_count(app_config), placements(app_config)
    second = harvest(url, QUIET, app_config)
    assert second["id"] != first["id"]
    assert second["progress"]["by_status"] == {"skipped": 1}
    assert job_count(app_config) == jobs and placements(app_config) == stored
    forced = harvest(url, HarvestOptions(progress=False, force=True), app_config)
    assert forced["progress"]["by_status"] == {"done": 1}
    assert placements(app_config) == stored  # analysed again, replaced, not duplicated


def test_plain_list_file(app_config: dict[str, Any], iiif_site: IIIFSite, tmp_path: Path) -> None:
    listed = tmp_path / "books.txt"
    listed.write_text(book(iiif_site, "l-a", ["page1"]) + "\n")
    summary = harvest(str(listed), QUIET, app_config)
    assert summary["mode"] == "list" and summary["progress"]["by_status"] == {"done": 1}


def test_change_discovery_harvests_only_what_changed(
    app_config: dict[str, Any], iiif_site: IIIFSite
) -> None:
    a, b = book(iiif_site, "c-a", ["page1"]), book(iiif_site, "c-b", ["page2"])
    page = iiif_site.static("c/page0.json")
    activities = [
        {
            "type": "Create",
            "object": {"id": a, "type": "Manifest"},
            "endTime": "2026-01-01T00:00:00Z",
        },
        {
            "type": "Create",
            "object": {"id": b, "type": "Manifest"},
            "endTime": "2026-01-02T00:00:00Z",
        },
    ]

    def publish() -> str:
        iiif_site.publish(
            "c/page0.json",
            {
                "@context": AS,
                "id": page,
                "type": "OrderedCollectionPage",
                "orderedItems": activities,
            },
        )
        return iiif_site.publish(
            "c/stream.json",
            {
                "@context": AS,
                "id": iiif_site.static("c/stream.json"),
                "type": "OrderedCollection",
                "last": page,
            },
        )

    stream = publish()
    first = harvest(stream, QUIET, app_config)
    assert first["mode"] == "changes" and first["progress"]["by_status"] == {"done": 2}
    assert harvest(stream, QUIET, app_config)["progress"]["total"] == 0  # nothing new
    jobs = job_count(app_config)
    activities.append(
        {
            "type": "Update",
            "object": {"id": b, "type": "Manifest"},
            "endTime": "2026-01-03T00:00:00Z",
        }
    )
    activities.append(
        {
            "type": "Delete",
            "object": {"id": a, "type": "Manifest"},
            "endTime": "2026-01-04T00:00:00Z",
        }
    )
    publish()
    third = harvest(stream, QUIET, app_config)
    assert third["progress"]["by_status"] == {"done": 1, "forget": 1}
    assert job_count(app_config) == jobs + 1  # only the updated book ran again
    with opened(app_config) as (store, _):
        assert store.manifest(a) is None  # the deleted book's results are gone...
        assert corpus_key(a) not in {m.corpus for m in store.motifs()}
        kept = store.placements()
        assert kept, "the other book lost its annotations"
        for placement in kept:  # ...and every annotation left belongs to the other book
            canvas = store.canvas(placement.canvas_key)
            assert canvas is not None and canvas.manifest_url == b
    with opened(app_config) as (_, state):
        assert state.checkpoint(stream) == "2026-01-04T00:00:00Z"


def test_items_are_added_once(app_config: dict[str, Any]) -> None:
    with opened(app_config) as (_, state):
        harvest_id, _ = state.open("http://x/c", "collection", new_worker(), 60)
        assert state.add_items(harvest_id, [Item("http://m/1"), Item("http://m/2")]) == 2
        assert state.add_items(harvest_id, [Item("http://m/2"), Item("http://m/3")]) == 1
        items = state.items(harvest_id)
        assert [(i["url"], i["position"]) for i in items] == [
            ("http://m/1", 0),
            ("http://m/2", 1),
            ("http://m/3", 2),
        ]


def test_a_job_created_but_not_recorded_before_a_kill_is_cancelled(
    app_config: dict[str, Any], iiif_site: IIIFSite
) -> None:
    member = book(iiif_site, "o-a", ["page1"])
    url = collection(iiif_site, "o/collection.json", [member])
    with opened(app_config) as (store, state):
        harvest_id, _ = state.open(url, "collection", "gone-host:1:x", 60)
        state.add_items(harvest_id, [Item(member)])
        state.set_status(harvest_id, "running")
        orphan = store.create_job("manifest", member)  # the kill came before update_item
        with store.engine.begin() as conn:
            conn.execute(sa.text("UPDATE harvests SET heartbeat=0"))
    summary = harvest(url, QUIET, app_config)
    assert summary["id"] == harvest_id and summary["progress"]["by_status"] == {"done": 1}
    with opened(app_config) as (store, _):
        assert (store.job(orphan["id"]) or {})["status"] == "cancelled"


def test_a_live_harvest_is_not_taken_over(app_config: dict[str, Any]) -> None:
    exited = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    dead_here = f"{socket.gethostname()}:{exited.stdout.strip()}:x"
    with opened(app_config) as (store, state):

        def held_by(worker: str, heartbeat: float) -> None:
            with store.engine.begin() as conn:
                conn.execute(
                    sa.text("UPDATE harvests SET worker=:w, heartbeat=:h"),
                    {"w": worker, "h": heartbeat},
                )

        def take() -> tuple[str, bool]:
            return state.open("http://x/c", "collection", new_worker(), 60)

        harvest_id, resumed = take()
        assert not resumed
        with pytest.raises(HarvestBusy):
            take()  # held by this very process, alive
        held_by(dead_here, time.time())
        assert take() == (harvest_id, True)  # a dead process of this host: at once
        held_by("elsewhere:1:x", time.time())
        with pytest.raises(HarvestBusy):
            take()  # another host: only a stale heartbeat tells it is gone
        held_by("elsewhere:1:x", time.time() - 61)
        assert take() == (harvest_id, True)


def environment(config: dict[str, Any]) -> dict[str, str]:
    """The environment of a subprocess that works on the same store as ``config``."""
    return {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "FLORILEGE_DB": config["DB"],
        "FLORILEGE_DATA": config["DATA"],
        "FLORILEGE_ALLOW_HOSTS": "127.0.0.1",
        "FLORILEGE_ANALYSIS_WIDTH": str(config["ANALYSIS_WIDTH"]),
    }


def run_cli(config: dict[str, Any], url: str, **popen: Any) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "service.cli", "harvest", url, "--collection", "--quiet"]
    command += ["--concurrency", "1"]
    return subprocess.Popen(command, cwd=ROOT, env=environment(config), **popen)


def test_sigkill_then_rerun_loses_and_duplicates_nothing(
    app_config: dict[str, Any], iiif_site: IIIFSite, tmp_path: Path
) -> None:
    names = [f"k{i}" for i in range(6)]
    members = [
        book(iiif_site, n, ["page1", "page2"][: 1 + i % 2], delay=0.3) for i, n in enumerate(names)
    ]
    url = collection(iiif_site, "k/collection.json", members)
    # The reference: the same collection harvested without interruption, in another store.
    reference = {**app_config, "DB": f"sqlite:///{tmp_path / 'reference.sqlite3'}"}
    assert harvest(url, QUIET, reference)["progress"]["by_status"] == {"done": 6}

    process = run_cli(app_config, url, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    store = Store(app_config["DB"])
    state = HarvestState(store.engine)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        latest = state.latest(url)
        if latest and state.summary(latest["id"])["by_status"].get("done", 0) >= 2:
            break
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait(10)
    killed = state.summary(state.latest(url)["id"])  # type: ignore[index]
    assert 2 <= killed["by_status"].get("done", 0) < 6, killed
    store.close()

    rerun = run_cli(app_config, url, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = rerun.communicate(timeout=120)
    assert rerun.returncode == 0, (out, err)
    summary = json.loads(out)
    assert summary["resumed"] and summary["progress"]["by_status"] == {"done": 6}, summary
    assert placements(app_config) == placements(reference)
    with opened(app_config) as (store, _), opened(reference) as (expected, _):
        # The catalogue: no motif lost, none twice, the same instances in each.
        assert [(m.id, m.instances) for m in store.motifs()] == [
            (m.id, m.instances) for m in expected.motifs()
        ]
    # The job the kill interrupted was cancelled, so that it can never save results late.
    assert not [j for j in jobs(app_config) if j["status"] in ("queued", "running")]


def test_submitted_harvests_run_in_the_background_runner(
    app_config: dict[str, Any], iiif_site: IIIFSite
) -> None:
    url = collection(iiif_site, "q/collection.json", [book(iiif_site, "q-a", ["page1"])])
    with opened(app_config) as (store, state):
        fetcher = Fetcher(FetchPolicy(allow_hosts=frozenset({"127.0.0.1"})))
        harvest_id = submit(store, fetcher, url)
        assert submit(store, fetcher, url) == harvest_id  # the same source is not queued twice
        queued = harvest_json(state, harvest_id)
        assert queued["status"] == "queued" and queued["mode"] == "collection"
    (summary,) = run_pending(QUIET, app_config)
    assert summary["id"] == harvest_id and summary["resumed"]
    assert summary["progress"]["by_status"] == {"done": 1}
    assert run_pending(QUIET, app_config) == []


def test_jobs_in_worker_processes(app_config: dict[str, Any], iiif_site: IIIFSite) -> None:
    members = [book(iiif_site, f"p-{i}", ["page1"]) for i in range(2)]
    url = collection(iiif_site, "p/collection.json", members)
    summary = harvest(url, HarvestOptions(progress=False, processes=2), app_config)
    assert summary["progress"]["by_status"] == {"done": 2}
    assert len({p[0] for p in placements(app_config)}) == 2


def test_sigkill_while_walking_then_rerun(app_config: dict[str, Any], iiif_site: IIIFSite) -> None:
    """Killed while walking slow sub-collections (before any item was written): the rerun takes
    the same harvest over and walks again."""
    books = [book(iiif_site, f"w-{i}", ["page1"]) for i in range(3)]
    slow = {"Content-Type": "application/json", "X-Delay": "0.5"}
    subs = []
    for index, member in enumerate(books):
        doc = {
            "@context": V3,
            "id": iiif_site.static(f"w/sub{index}.json"),
            "type": "Collection",
            "items": [{"id": member, "type": "Manifest"}, {"id": books[0], "type": "Manifest"}],
        }
        subs.append(iiif_site.script(f"w/sub{index}.json", (200, slow, json.dumps(doc).encode())))
    items = [{"id": s, "type": "Collection"} for s in subs]
    root = {"@context": V3, "id": iiif_site.static("w/root.json"), "type": "Collection"}
    url = iiif_site.publish("w/root.json", {**root, "items": items})

    process = run_cli(app_config, url, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    with opened(app_config) as (_, state):
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if state.latest(url):
                break
            time.sleep(0.02)
        time.sleep(0.6)  # into the walk: each of the three sub-collections takes 0.5 s
        process.send_signal(signal.SIGKILL)
        process.wait(10)
        killed = state.latest(url)
        assert killed is not None and killed["status"] == "walking"

    rerun = run_cli(app_config, url, stdout=subprocess.PIPE)
    out, _ = rerun.communicate(timeout=120)
    assert rerun.returncode == 0, out
    summary = json.loads(out)
    assert summary["id"] == killed["id"] and summary["resumed"]
    assert summary["progress"]["by_status"] == {"done": 3}
    with opened(app_config) as (_, state):
        assert sorted(i["url"] for i in state.items(killed["id"])) == sorted(books)
