"""Walking collections and lists, and reading Change Discovery streams, over real HTTP."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from service.harvest.changes import read_changes
from service.harvest.polite import PoliteFetcher, with_contact
from service.harvest.walk import WalkError, parse_list, read_list, walk_collection
from service.iiif.fetch import Fetcher, FetchPolicy
from service.iiif.manifest import InvalidManifest
from tests.conftest import IIIFSite

V3 = "http://iiif.io/api/presentation/3/context.json"
V2 = "http://iiif.io/api/presentation/2/context.json"
AS = ["http://iiif.io/api/discovery/1/context.json", "https://www.w3.org/ns/activitystreams"]


def fetcher(**policy: Any) -> Fetcher:
    settings = {"allow_hosts": frozenset({"127.0.0.1"}), "retries": 2, **policy}
    return Fetcher(FetchPolicy(**settings), sleep=lambda _: None)


def v3_collection(site: IIIFSite, path: str, manifests: list[str], subs: list[str]) -> str:
    items = [{"id": site.static(s), "type": "Collection", "label": {"en": [s]}} for s in subs]
    items += [{"id": m, "type": "Manifest", "label": {"en": [m]}} for m in manifests]
    doc = {"@context": V3, "id": site.static(path), "type": "Collection", "items": items}
    return site.publish(path, doc)


def walk(url: str) -> tuple[list[str], list[WalkError]]:
    errors: list[WalkError] = []
    return list(walk_collection(fetcher(), url, errors.append)), errors


def test_nested_v3_collections_in_document_order_each_manifest_once(iiif_site: IIIFSite) -> None:
    v3_collection(iiif_site, "w/leaf.json", ["http://m/3", "http://m/1"], ["w/root.json"])
    v3_collection(iiif_site, "w/mid.json", ["http://m/2"], ["w/leaf.json"])
    root = v3_collection(iiif_site, "w/root.json", ["http://m/1", "http://m/4"], ["w/mid.json"])
    # Sub-collections come first in `items` here; the cycle back to the root is not followed.
    assert walk(root) == (["http://m/1", "http://m/4", "http://m/2", "http://m/3"], [])


def test_paged_v2_collection_with_manifests_members_and_collections(iiif_site: IIIFSite) -> None:
    sub = iiif_site.publish(
        "p/sub.json",
        {
            "@context": V2,
            "@id": iiif_site.static("p/sub.json"),
            "@type": "sc:Collection",
            "manifests": [{"@id": "http://m/sub", "@type": "sc:Manifest"}],
        },
    )
    page2 = iiif_site.publish(
        "p/page2.json",
        {
            "@context": V2,
            "@id": iiif_site.static("p/page2.json"),
            "@type": "sc:Collection",
            "members": [
                {"@id": "http://m/c", "@type": "sc:Manifest"},
                {"@id": sub, "@type": "sc:Collection"},
            ],
        },
    )
    page1 = iiif_site.publish(
        "p/page1.json",
        {
            "@context": V2,
            "@id": iiif_site.static("p/page1.json"),
            "@type": "sc:Collection",
            "manifests": [
                {"@id": "http://m/a", "@type": "sc:Manifest"},
                {"@id": "http://m/b", "@type": "sc:Manifest"},
            ],
            "next": page2,
        },
    )
    root = iiif_site.publish(
        "p/root.json",
        {
            "@context": V2,
            "@id": iiif_site.static("p/root.json"),
            "@type": "sc:Collection",
            "total": 4,
            "first": {"@id": page1, "@type": "sc:Collection"},
        },
    )
    assert walk(root) == (["http://m/a", "http://m/b", "http://m/c", "http://m/sub"], [])


def test_a_broken_sub_collection_is_reported_and_skipped(iiif_site: IIIFSite) -> None:
    iiif_site.script("b/flaky.json", (500, {}, b""), (500, {}, b""), (500, {}, b""))
    iiif_site.publish("b/manifest-not-collection.json", {"@context": V3, "type": "Manifest"})
    root = v3_collection(
        iiif_site,
        "b/root.json",
        ["http://m/ok"],
        ["b/missing.json", "b/flaky.json", "b/manifest-not-collection.json"],
    )
    found, errors = walk(root)
    assert found == ["http://m/ok"]
    assert [(Path(e.url).name, e.code) for e in errors] == [
        ("missing.json", "upstream_not_found"),
        ("flaky.json", "upstream_error"),
        ("manifest-not-collection.json", "invalid_manifest"),
    ]


def test_a_500_then_success_is_retried(iiif_site: IIIFSite) -> None:
    body = {
        "@context": V3,
        "id": "x",
        "type": "Collection",
        "items": [{"id": "http://m/1", "type": "Manifest"}],
    }
    url = iiif_site.script(
        "r/root.json", (503, {"Retry-After": "0"}, b""), (200, {}, json.dumps(body).encode())
    )
    assert walk(url) == (["http://m/1"], [])


def test_the_root_must_be_a_collection(iiif_site: IIIFSite) -> None:
    url = iiif_site.publish("n/manifest.json", {"@context": V3, "type": "Manifest", "id": "x"})
    with pytest.raises(InvalidManifest):
        walk(url)


def test_plain_lists(iiif_site: IIIFSite, tmp_path: Path) -> None:
    text = "# books\nhttp://m/1\n\nhttp://m/2\nhttp://m/1\n"
    assert parse_list(text) == ["http://m/1", "http://m/2"]
    assert parse_list('["http://m/2", {"id": "http://m/3"}]') == ["http://m/2", "http://m/3"]
    listed = tmp_path / "list.txt"
    listed.write_text(text)
    assert read_list(fetcher(), str(listed)) == ["http://m/1", "http://m/2"]
    url = iiif_site.script("l/list.json", (200, {}, b'["http://m/9"]'))
    assert read_list(fetcher(), url) == ["http://m/9"]
    for bad in ("", "not a url\n", "[1, 2]", '["ftp://m/1"]'):
        with pytest.raises(InvalidManifest):
            parse_list(bad)


def activity(kind: str, url: str, time: str, obj_type: str = "Manifest", **extra: Any) -> dict:
    return {"type": kind, "object": {"id": url, "type": obj_type}, "endTime": time, **extra}


def publish_stream(site: IIIFSite, name: str, pages: list[list[dict[str, Any]]]) -> str:
    urls = [site.static(f"{name}/page{i}.json") for i in range(len(pages))]
    for index, items in enumerate(pages):
        doc: dict[str, Any] = {
            "@context": AS,
            "id": urls[index],
            "type": "OrderedCollectionPage",
            "orderedItems": items,
        }
        if index:
            doc["prev"] = {"id": urls[index - 1], "type": "OrderedCollectionPage"}
        site.publish(f"{name}/page{index}.json", doc)
    return site.publish(
        f"{name}/stream.json",
        {
            "@context": AS,
            "id": site.static(f"{name}/stream.json"),
            "type": "OrderedCollection",
            "first": {"id": urls[0]},
            "last": {"id": urls[-1], "type": "OrderedCollectionPage"},
        },
    )


def test_change_discovery_reads_back_to_the_checkpoint(iiif_site: IIIFSite) -> None:
    stream = publish_stream(
        iiif_site,
        "cd",
        [
            [
                activity("Create", "http://m/a", "2026-01-01T00:00:00Z"),
                activity("Create", "http://m/b", "2026-01-02T00:00:00Z"),
            ],
            [
                activity("Update", "http://m/a", "2026-01-03T00:00:00Z"),
                activity("Delete", "http://m/b", "2026-01-04T00:00:00Z"),
                activity("Move", "http://m/c", "2026-01-05T00:00:00Z", target="http://m/d"),
                activity("Create", "http://c/1", "2026-01-06T00:00:00Z", "Collection"),
                activity("Create", "http://other/1", "2026-01-07T00:00:00Z", "Canvas"),
            ],
        ],
    )
    every = read_changes(fetcher(), stream, None)
    assert every.newest == "2026-01-07T00:00:00Z"
    assert [(c.url, c.kind, c.action) for c in every.changes] == [
        ("http://m/a", "Manifest", "update"),
        ("http://m/b", "Manifest", "delete"),
        ("http://m/d", "Manifest", "update"),
        ("http://m/c", "Manifest", "delete"),
        ("http://c/1", "Collection", "update"),
    ]
    since = read_changes(fetcher(), stream, "2026-01-04T00:00:00Z")
    assert [c.url for c in since.changes] == ["http://m/d", "http://m/c", "http://c/1"]
    nothing = read_changes(fetcher(), stream, every.newest)
    assert nothing.changes == () and nothing.newest is None


def test_change_discovery_stops_at_a_refresh(iiif_site: IIIFSite) -> None:
    stream = publish_stream(
        iiif_site,
        "rf",
        [
            [activity("Create", "http://m/old", "2026-01-01T00:00:00Z")],
            [
                {"type": "Refresh", "endTime": "2026-02-01T00:00:00Z"},
                activity("Create", "http://m/new", "2026-02-02T00:00:00Z"),
            ],
        ],
    )
    assert [c.url for c in read_changes(fetcher(), stream, None).changes] == ["http://m/new"]


def test_a_manifest_is_not_a_stream(iiif_site: IIIFSite) -> None:
    url = iiif_site.publish("cd-bad/m.json", {"@context": V3, "type": "Manifest"})
    with pytest.raises(InvalidManifest):
        read_changes(fetcher(), url, None)


def test_polite_fetcher_spaces_requests_to_one_host(iiif_site: IIIFSite) -> None:
    slept: list[float] = []
    polite = PoliteFetcher(
        FetchPolicy(allow_hosts=frozenset({"127.0.0.1"})), sleep=slept.append, delay=5.0
    )
    url = iiif_site.publish("pl/a.json", {"a": 1})
    for _ in range(3):
        assert polite.get_json(url) == {"a": 1}
    # The first request goes at once; the next ones wait for their turn, about 5 s apart
    # (the fake sleep does not advance the clock, so the waits add up).
    assert len(slept) == 2 and 4.9 < slept[0] <= 5.0 and 9.9 < slept[1] <= 10.0


def test_contact_in_the_user_agent() -> None:
    policy = with_contact(FetchPolicy(user_agent="florilege/0.1 (+x)"), "ops@example.org")
    assert policy.user_agent == "florilege/0.1 (+x; contact: ops@example.org)"
    assert with_contact(FetchPolicy(user_agent="f"), "u").user_agent == "f (contact: u)"
    assert with_contact(FetchPolicy(user_agent="f"), None).user_agent == "f"
