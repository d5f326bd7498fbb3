"""Regenerate the sample manifests and their synthetic ornament pages.

    python3 manifests/build.py

Pages come from the synthetic generator (``training.synth.generate``), saved as JPEG in
``manifests/images/``. ``manifests/serve.py`` serves them through the IIIF Image API reference
server on 127.0.0.1:8182 and the manifests themselves on 127.0.0.1:8183; the manifests name
those addresses. Canvases are the size of their images: Mirador 4.0.0 misplaces annotation boxes
when they differ (Mirador issue #4533), and a demo should show boxes where they belong.
"""

from __future__ import annotations

import json
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import iiif_prezi3 as prezi
from PIL import Image

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from service.iiif.canvas import image_service, painted_canvas  # noqa: E402 (after the path)

IMAGE_BASE = "http://127.0.0.1:8182"
MANIFEST_BASE = "http://127.0.0.1:8183"
PAGE_HEIGHT = 1500  # pixels: enough for the analysis, small enough for the repository
SEED = 20261125


def make_pages(count: int) -> list[Path]:
    from training.synth import generate

    out = HERE / "images"
    out.mkdir(exist_ok=True)
    paths = []
    with tempfile.TemporaryDirectory() as tmp:
        generate(Path(tmp), pages=count, split="seen", seed=SEED)
        for png in sorted((Path(tmp) / "images").glob("*.png")):
            with Image.open(png) as page:
                scale = PAGE_HEIGHT / page.height
                small = page.resize((round(page.width * scale), PAGE_HEIGHT), Image.LANCZOS)
            path = out / f"{png.stem}.jpg"
            small.save(path, quality=85)
            paths.append(path)
    return paths


@dataclass(frozen=True)
class Page:
    """One page image behind an Image API service."""

    service: str  # the Image API service id
    size: tuple[int, int]  # image pixels


def manifest_v3(
    manifest_id: str, canvas_base: str, label: str, pages: Sequence[Page], scale: int = 1
) -> dict[str, Any]:
    """A Presentation 3 book, one canvas per page, each ``scale`` canvas units per pixel."""
    canvases = [
        painted_canvas(
            f"{canvas_base}/canvas/{index}",
            {"en": [f"p. {index}"]},
            f"{page.service}/full/max/0/default.jpg",
            page.size,
            image_service(page.service, 3),
            (page.size[0] * scale, page.size[1] * scale),
        )
        for index, page in enumerate(pages, start=1)
    ]
    manifest = prezi.Manifest(
        id=manifest_id,
        label={"en": [label]},
        items=canvases,
        summary={"en": ["Synthetic pages with composite printers' ornaments (Florilege sample)."]},
    )
    return json.loads(manifest.json())


def manifest_v2(
    manifest_id: str, canvas_base: str, label: str, pages: Sequence[Page], scale: int = 1
) -> dict[str, Any]:
    """The same book in Presentation 2.1 (no typed library writes v2: plain dicts)."""
    canvases = []
    for index, page in enumerate(pages, start=1):
        canvas_id = f"{canvas_base}/canvas/{index}"
        width, height = page.size
        canvases.append(
            {
                "@id": canvas_id,
                "@type": "sc:Canvas",
                "label": f"p. {index}",
                "width": width * scale,
                "height": height * scale,
                "images": [
                    {
                        "@id": f"{canvas_id}/painting",
                        "@type": "oa:Annotation",
                        "motivation": "sc:painting",
                        "on": canvas_id,
                        "resource": {
                            "@id": f"{page.service}/full/full/0/default.jpg",
                            "@type": "dctypes:Image",
                            "format": "image/jpeg",
                            "width": width,
                            "height": height,
                            "service": {
                                "@context": "http://iiif.io/api/image/2/context.json",
                                "@id": page.service,
                                "profile": "http://iiif.io/api/image/2/level1.json",
                            },
                        },
                    }
                ],
            }
        )
    return {
        "@context": "http://iiif.io/api/presentation/2/context.json",
        "@id": manifest_id,
        "@type": "sc:Manifest",
        "label": label,
        "sequences": [{"@type": "sc:Sequence", "canvases": canvases}],
    }


def sample(name: str, label: str, images: list[Path], version: int) -> dict[str, Any]:
    """A sample book served by ``manifests/serve.py``; canvases are the size of their images."""
    server = "3.0_pil" if version == 3 else "2.1_pil"
    pages = []
    for path in images:
        with Image.open(path) as image:
            pages.append(Page(f"{IMAGE_BASE}/{server}/{path.stem}", image.size))
    build = manifest_v3 if version == 3 else manifest_v2
    return build(f"{MANIFEST_BASE}/{name}.json", f"{MANIFEST_BASE}/{name}", label, pages)


def collection(manifests: list[tuple[str, str]]) -> dict[str, Any]:
    return {
        "@context": "http://iiif.io/api/presentation/3/context.json",
        "id": f"{MANIFEST_BASE}/collection.json",
        "type": "Collection",
        "label": {"en": ["Florilege samples"]},
        "items": [
            {"id": f"{MANIFEST_BASE}/{name}.json", "type": "Manifest", "label": {"en": [label]}}
            for name, label in manifests
        ],
    }


def main() -> None:
    pages = make_pages(6)
    books = [
        ("sample-v3", "Sample book (Presentation 3)"),
        ("sample-v2", "Sample book (Presentation 2.1)"),
    ]
    documents = {
        "sample-v3.json": sample(*books[0], pages[:3], version=3),
        "sample-v2.json": sample(*books[1], pages[3:], version=2),
        "collection.json": collection(books),
    }
    for name, doc in documents.items():
        (HERE / name).write_text(json.dumps(doc, indent=1) + "\n")
        print("wrote", HERE / name)


if __name__ == "__main__":
    main()
