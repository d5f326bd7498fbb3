"""A harvest's motif catalogue: one per collection, grown book by book as each book ends."""

from __future__ import annotations

from typing import Any

import numpy as np

from service.harvest.driver import HarvestOptions, harvest
from service.results import corpus_key
from service.store import RunResult, catalogues
from service.store.catalogues import CatalogueUpdate, StoredCatalogue
from tests.conftest import IIIFSite, ornament_page
from tests.service.test_harvest import QUIET, book, collection, opened


def motifs_by_book(config: dict[str, Any]) -> dict[str, set[str]]:
    """Book (manifest folder name) → the motifs of its instances."""
    with opened(config) as (store, _):
        found: dict[str, set[str]] = {}
        for placement in store.placements():
            canvas = store.canvas(placement.canvas_key)
            assert canvas is not None
            found.setdefault(canvas.manifest_url.split("/")[-2], set()).add(placement.motif)
        return found


def test_the_same_block_keeps_its_motif_across_books(
    app_config: dict[str, Any], iiif_site: IIIFSite
) -> None:
    iiif_site.add_image("stars", ornament_page(block=star()))
    members = [
        book(iiif_site, "cat-a", ["page1"]),  # fleurons
        book(iiif_site, "cat-b", ["stars"]),  # another block
        book(iiif_site, "cat-c", ["page2"]),  # the fleuron again, in a later book
    ]
    url = collection(iiif_site, "cat/collection.json", members)
    # Books run two at a time: the matching of one waits for the other's to be saved.
    assert harvest(url, QUIET, app_config)["progress"]["by_status"] == {"done": 3}
    books = motifs_by_book(app_config)
    assert len(books["cat-a"]) == len(books["cat-b"]) == 1
    assert books["cat-a"] == books["cat-c"] and books["cat-a"] != books["cat-b"]
    with opened(app_config) as (store, _):
        motifs = {m.id: m for m in store.motifs()}
        assert motifs.keys() == books["cat-a"] | books["cat-b"]
        (fleuron,) = books["cat-a"]
        assert motifs[fleuron].instances == 18 and motifs[fleuron].corpus == corpus_key(url)
        assert store.prototype(fleuron) is not None

    # Analysed again: every instance finds the motif it had, and nothing is added.
    before = sorted((p.canvas_key, p.box, p.motif) for p in placements_of(app_config))
    forced = harvest(url, HarvestOptions(progress=False, force=True), app_config)
    assert forced["progress"]["by_status"] == {"done": 3}
    assert sorted((p.canvas_key, p.box, p.motif) for p in placements_of(app_config)) == before
    with opened(app_config) as (store, _):
        assert {m.id for m in store.motifs()} == motifs.keys()


def placements_of(config: dict[str, Any]) -> list[Any]:
    with opened(config) as (store, _):
        return store.placements()


def star() -> Any:
    """A block unlike ``fleuron()``: a hooked bar."""
    from PIL import Image, ImageDraw

    image = Image.new("L", (40, 40), 255)
    draw = ImageDraw.Draw(image)
    draw.rectangle((4, 4, 36, 12), fill=0)
    draw.polygon([(4, 12), (14, 12), (4, 36)], fill=0)
    draw.ellipse((24, 20, 34, 30), fill=0)
    return image


def test_a_book_is_matched_again_when_another_saved_meanwhile(app_config: dict[str, Any]) -> None:
    """Matching runs outside any transaction; a save checks that the catalogue is still the
    one matched against, else the book is matched again on the newer one."""
    source = ("cat", "http://x/collection")

    def outcome(book: str, motif: str) -> CatalogueUpdate:
        result = RunResult(book, book, [], [], [], [], {})
        return CatalogueUpdate(result, "templates", {motif: np.ones((8, 4), np.float32)})

    with opened(app_config) as (store, _):
        a, b = (store.create_job("manifest", f"http://x/{n}", source)["id"] for n in "ab")
        assert store.claim_job("w", 60, a) and store.claim_job("w", 60, b)
        seen: list[list[str]] = []

        def match_a(stored: StoredCatalogue) -> CatalogueUpdate:
            seen.append(stored.ids)
            if len(seen) == 1:  # book b is saved while book a is being matched
                assert store.finish_in_catalogue(b, "w", "cat", lambda _: outcome("b", "m0001"))
            return outcome("a", f"m{len(stored.ids) + 1:04d}")

        assert store.finish_in_catalogue(a, "w", "cat", match_a)
        assert seen == [[], ["m0001"]]
        with store.engine.connect() as conn:
            assert catalogues.read(conn, "cat").ids == ["m0001", "m0002"]
        assert {store.job(j)["status"] for j in (a, b)} == {"done"}  # type: ignore[index]
