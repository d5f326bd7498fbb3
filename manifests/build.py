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
from pathlib import Path
from typing import Any

import iiif_prezi3 as prezi
from PIL import Image

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

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


def manifest_v3(name: str, label: str, pages: list[Path]) -> dict[str, Any]:
    canvases = []
    for index, page in enumerate(pages, start=1):
        width, height = Image.open(page).size
        canvas_id = f"{MANIFEST_BASE}/{name}/canvas/{index}"
        service = f"{IMAGE_BASE}/3.0_pil/{page.stem}"
        body = prezi.Resource(
            id=f"{service}/full/max/0/default.jpg",
            type="Image",
            format="image/jpeg",
            width=width,
            height=height,
            service=[prezi.ServiceV3(id=service, type="ImageService3", profile="level1")],
        )
        painting = prezi.Annotation(
            id=f"{canvas_id}/painting", motivation="painting", body=body, target=canvas_id
        )
        canvases.append(
            prezi.Canvas(
                id=canvas_id,
                label={"en": [f"p. {index}"]},
                width=width,
                height=height,
                items=[prezi.AnnotationPage(id=f"{canvas_id}/page", items=[painting])],
            )
        )
    manifest = prezi.Manifest(
        id=f"{MANIFEST_BASE}/{name}.json",
        label={"en": [label]},
        items=canvases,
        summary={"en": ["Synthetic pages with composite printers' ornaments (Florilege sample)."]},
    )
    return json.loads(manifest.json())


def manifest_v2(name: str, label: str, pages: list[Path]) -> dict[str, Any]:
    canvases = []
    for index, page in enumerate(pages, start=1):
        width, height = Image.open(page).size
        canvas_id = f"{MANIFEST_BASE}/{name}/canvas/{index}"
        service = f"{IMAGE_BASE}/2.1_pil/{page.stem}"
        canvases.append(
            {
                "@id": canvas_id,
                "@type": "sc:Canvas",
                "label": f"p. {index}",
                "width": width,
                "height": height,
                "images": [
                    {
                        "@id": f"{canvas_id}/painting",
                        "@type": "oa:Annotation",
                        "motivation": "sc:painting",
                        "on": canvas_id,
                        "resource": {
                            "@id": f"{service}/full/full/0/default.jpg",
                            "@type": "dctypes:Image",
                            "format": "image/jpeg",
                            "width": width,
                            "height": height,
                            "service": {
                                "@context": "http://iiif.io/api/image/2/context.json",
                                "@id": service,
                                "profile": "http://iiif.io/api/image/2/level1.json",
                            },
                        },
                    }
                ],
            }
        )
    return {
        "@context": "http://iiif.io/api/presentation/2/context.json",
        "@id": f"{MANIFEST_BASE}/{name}.json",
        "@type": "sc:Manifest",
        "label": label,
        "sequences": [{"@type": "sc:Sequence", "canvases": canvases}],
    }


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
        "sample-v3.json": manifest_v3(books[0][0], books[0][1], pages[:3]),
        "sample-v2.json": manifest_v2(books[1][0], books[1][1], pages[3:]),
        "collection.json": collection(books),
    }
    for name, doc in documents.items():
        (HERE / name).write_text(json.dumps(doc, indent=1) + "\n")
        print("wrote", HERE / name)


if __name__ == "__main__":
    main()
