"""Read IIIF Presentation 2.1 and 3 manifests and collections into one plain model.

Only what the analysis needs is kept: every canvas, its size, and every image painted on it,
with the Image API service (if any) and the region of the canvas the image covers, so that
boxes found in image pixels can be put back in canvas coordinates.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any

_NUMBER = r"(\d+(?:\.\d+)?)"
XYWH = re.compile(rf"#xywh=(?:pixel:)?{_NUMBER},{_NUMBER},{_NUMBER},{_NUMBER}$")


class InvalidManifest(ValueError):
    """A document that is not a usable IIIF manifest or collection."""

    code, status = "invalid_manifest", 422


@dataclass(frozen=True)
class ImageService:
    id: str
    version: int  # Image API major version: 2 or 3


@dataclass(frozen=True)
class ImageRef:
    url: str
    service: ImageService | None
    width: int | None  # as declared in the manifest; info.json or the decoded image wins
    height: int | None
    target: tuple[float, float, float, float]  # the part of the canvas the image covers


@dataclass(frozen=True)
class CanvasRef:
    id: str
    label: str
    width: int
    height: int
    images: tuple[ImageRef, ...]

    @property
    def key(self) -> str:
        return canvas_key(self.id)


@dataclass(frozen=True)
class Manifest:
    id: str
    version: int  # Presentation API major version: 2 or 3
    label: str
    canvases: tuple[CanvasRef, ...]


def canvas_key(canvas_id: str) -> str:
    """A short, URL-safe and stable key for a canvas id (used in annotation URLs)."""
    return hashlib.sha256(canvas_id.encode()).hexdigest()[:20]


def presentation_version(doc: Any) -> int:
    if not isinstance(doc, dict):
        raise InvalidManifest("a IIIF document is a JSON object")
    contexts = doc.get("@context", [])
    contexts = contexts if isinstance(contexts, list) else [contexts]
    if any(isinstance(c, str) and "presentation/3" in c for c in contexts):
        return 3
    if any(isinstance(c, str) and "presentation/2" in c for c in contexts):
        return 2
    raise InvalidManifest("no IIIF Presentation 2 or 3 @context")


def is_collection(doc: Any) -> bool:
    return isinstance(doc, dict) and (doc.get("type") or doc.get("@type")) in (
        "Collection",
        "sc:Collection",
    )


def collection_members(doc: Any) -> tuple[list[str], list[str]]:
    """The (manifest URLs, sub-collection URLs) a collection lists, in order."""
    version = presentation_version(doc)
    if not is_collection(doc):
        raise InvalidManifest("not a IIIF collection")
    if version == 3:
        members = _list(doc.get("items"))
        kinds = [(_str(m.get("id")), m.get("type")) for m in members if isinstance(m, dict)]
    else:
        members = _list(doc.get("members")) + _list(doc.get("manifests"))
        members += _list(doc.get("collections"))
        kinds = [
            (_str(m.get("@id")), str(m.get("@type", "")).replace("sc:", ""))
            for m in members
            if isinstance(m, dict)
        ]
    manifests = [url for url, kind in kinds if url and kind == "Manifest"]
    collections = [url for url, kind in kinds if url and kind == "Collection"]
    return manifests, collections


def parse_manifest(doc: Any) -> Manifest:
    """Parse a v2.1 or v3 manifest; raise ``InvalidManifest`` with a reason."""
    version = presentation_version(doc)
    kind = doc.get("type") if version == 3 else doc.get("@type")
    if kind not in ("Manifest", "sc:Manifest"):
        raise InvalidManifest(f"expected a Manifest, got type {kind!r}")
    try:
        if version == 3:
            canvases = tuple(_canvas_v3(c) for c in _list(doc.get("items")))
            manifest_id = _required_str(doc, "id")
        else:
            sequences = _list(doc.get("sequences"))
            raw = _list(sequences[0].get("canvases")) if sequences else []
            canvases = tuple(_canvas_v2(c) for c in raw)
            manifest_id = _required_str(doc, "@id")
    except (AttributeError, KeyError, TypeError, ValueError) as err:
        raise InvalidManifest(f"malformed manifest: {err}") from err
    if not canvases:
        raise InvalidManifest("the manifest has no canvases")
    return Manifest(manifest_id, version, label_text(doc.get("label")), canvases)


def label_text(label: Any) -> str:
    """A plain string for any v2 or v3 label form."""
    if isinstance(label, str):
        return label
    if isinstance(label, dict) and "@value" in label:
        return str(label["@value"])
    if isinstance(label, dict):
        for values in label.values():
            if values:
                return str(values[0]) if isinstance(values, list) else str(values)
    if isinstance(label, list) and label:
        return label_text(label[0])
    return ""


def _canvas_v3(canvas: dict[str, Any]) -> CanvasRef:
    canvas_id = _required_str(canvas, "id")
    width, height = _dimension(canvas, "width"), _dimension(canvas, "height")
    images = []
    for page in _list(canvas.get("items")):
        for anno in _list(page.get("items")):
            if anno.get("motivation") != "painting":
                continue
            for body in _bodies(anno.get("body")):
                if body.get("type") == "Image":
                    images.append(_image(body, anno.get("target"), width, height))
    return CanvasRef(canvas_id, label_text(canvas.get("label")), width, height, tuple(images))


def _canvas_v2(canvas: dict[str, Any]) -> CanvasRef:
    canvas_id = _required_str(canvas, "@id")
    width, height = _dimension(canvas, "width"), _dimension(canvas, "height")
    images = []
    for anno in _list(canvas.get("images")):
        if anno.get("motivation", "sc:painting") != "sc:painting":
            continue
        resource = anno.get("resource") or {}
        if resource.get("@type") == "oa:Choice":
            resource = resource.get("default") or {}
        if resource.get("@type", "dctypes:Image") == "dctypes:Image":
            images.append(_image(resource, anno.get("on"), width, height))
    return CanvasRef(canvas_id, label_text(canvas.get("label")), width, height, tuple(images))


def _bodies(body: Any) -> list[dict[str, Any]]:
    """Image bodies, taking the first item of a Choice (the default rendering)."""
    out = []
    for item in _list(body):
        if item.get("type") == "Choice":
            out.extend(_list(item.get("items"))[:1])
        elif item.get("type") == "SpecificResource":
            out.append(item.get("source") or {})
        else:
            out.append(item)
    return out


def _image(body: dict[str, Any], target: Any, width: int, height: int) -> ImageRef:
    url = _str(body.get("id") or body.get("@id"))
    if not url:
        raise ValueError("an image has no id")
    service = next((s for s in map(_service, _list(body.get("service"))) if s), None)
    return ImageRef(
        url,
        service,
        _optional_int(body.get("width")),
        _optional_int(body.get("height")),
        _target(target, width, height),
    )


def _service(service: Any) -> ImageService | None:
    if not isinstance(service, dict):
        return None
    service_id = _str(service.get("id") or service.get("@id")).rstrip("/")
    kind = str(service.get("type") or service.get("@type") or "")
    context = str(service.get("@context", ""))
    profile = str(service.get("profile", ""))
    if kind == "ImageService3" or "image/3" in context:
        return ImageService(service_id, 3) if service_id else None
    if kind == "ImageService2" or "image/2" in context or "image/2" in profile:
        return ImageService(service_id, 2) if service_id else None
    return None


def _target(target: Any, width: int, height: int) -> tuple[float, float, float, float]:
    if isinstance(target, dict):  # a SpecificResource with a FragmentSelector
        selector = target.get("selector") or {}
        value = selector.get("value", "") if isinstance(selector, dict) else ""
        target = f"{target.get('source', '')}#{value}"
    match = XYWH.search(str(target or ""))
    if not match:
        return (0.0, 0.0, float(width), float(height))
    x, y, w, h = (float(v) for v in match.groups())
    return (x, y, w, h)


def _list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _required_str(doc: dict[str, Any], key: str) -> str:
    value = doc.get(key)
    if not isinstance(value, str) or not value:
        raise ValueError(f"missing {key}")
    return value


def _dimension(doc: dict[str, Any], key: str) -> int:
    value = doc.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise ValueError(f"{doc.get('id') or doc.get('@id')}: {key} must be a positive number")
    return int(value)


def _optional_int(value: Any) -> int | None:
    return int(value) if isinstance(value, int | float) and value > 0 else None
