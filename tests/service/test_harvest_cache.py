"""The optional HTTP cache in a harvest: a second harvest of the same books asks the server
for nothing it already has."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from service.harvest.driver import HarvestOptions, harvest
from tests.conftest import IIIFSite, manifest_v3, ornament_page
from tests.service.test_harvest import QUIET, collection, placements


def plain_book(site: IIIFSite, name: str) -> str:
    """A one-page book whose page is a plain image on the static server (no Image API), so
    that the test sees every request a harvest makes for it."""
    ornament_page().save(site.root / f"{name}.png")
    doc = manifest_v3(site, name, ["page1"])
    body = doc["items"][0]["items"][0]["items"][0]["body"]
    body["id"] = site.static(f"{name}.png")
    del body["service"]
    return site.publish(f"{name}/manifest.json", doc)


def test_a_second_harvest_reads_the_cache(
    app_config: dict[str, Any], iiif_site: IIIFSite, tmp_path: Path
) -> None:
    url = collection(iiif_site, "hc/collection.json", [plain_book(iiif_site, "hc-a")])
    config = {**app_config, "HTTP_CACHE": str(tmp_path / "http")}
    asked = ["/hc/collection.json", "/hc-a/manifest.json", "/hc-a.png"]

    def requests() -> list[int]:
        return [iiif_site.seen.count(path) for path in asked]

    assert harvest(url, QUIET, config)["progress"]["by_status"] == {"done": 1}
    assert requests() == [1, 1, 1]  # the collection is read once, to tell its kind and walk it
    first = placements(config)
    again = harvest(url, HarvestOptions(progress=False, force=True), config)
    assert again["progress"]["by_status"] == {"done": 1}
    assert requests() == [1, 1, 1] and placements(config) == first
