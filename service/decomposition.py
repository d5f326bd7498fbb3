"""The decomposition JSON contract (DESIGN.md), written by `florilege decompose`, kept by the store.

Plain dataclasses with one reader and one writer, so that every producer (baseline, ONNX model)
and every consumer (scorer, annotations, store) agree on the same fields.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from service import __version__

Box = tuple[int, int, int, int]


class DecompositionError(ValueError):
    """A decomposition document that does not follow the contract."""


@dataclass(frozen=True)
class Instance:
    bbox: Box
    motif: str
    score: float
    rotation: int = 0
    mirror: bool = False
    ornament: str | None = None


@dataclass(frozen=True)
class Ornament:
    id: str
    bbox: Box


@dataclass
class Page:
    image: str
    width: int
    height: int
    ornaments: list[Ornament] = field(default_factory=list)
    instances: list[Instance] = field(default_factory=list)


@dataclass(frozen=True)
class Motif:
    id: str
    width: int
    height: int
    instances: int
    parent: str | None = None


@dataclass
class Decomposition:
    pages: list[Page]
    motifs: list[Motif]
    model: str = "baseline"

    def to_json(self) -> dict[str, Any]:
        return {
            "generator": {"name": "florilege", "version": __version__, "model": self.model},
            "motifs": [asdict(m) for m in self.motifs],
            "pages": [_page_to_json(p) for p in self.pages],
        }

    def write(self, path: Path) -> None:
        """Write atomically: a crash mid-write never leaves a truncated file behind."""
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(self.to_json(), indent=1))
        tmp.replace(path)

    @classmethod
    def from_json(cls, doc: Any) -> Decomposition:
        try:
            motifs = [Motif(**m) for m in doc["motifs"]]
            pages = [_page_from_json(p) for p in doc["pages"]]
            model = str(doc.get("generator", {}).get("model", "unknown"))
        except (KeyError, TypeError, ValueError) as err:
            raise DecompositionError(f"not a Florilege decomposition: {err!r}") from err
        _check_references(pages, {m.id for m in motifs})
        return cls(pages=pages, motifs=motifs, model=model)

    @classmethod
    def read(cls, path: Path) -> Decomposition:
        try:
            doc = json.loads(Path(path).read_text())
        except json.JSONDecodeError as err:
            raise DecompositionError(f"{path} is not JSON: {err}") from err
        return cls.from_json(doc)


def _page_to_json(page: Page) -> dict[str, Any]:
    doc = asdict(page)
    for item in doc["ornaments"] + doc["instances"]:
        item["bbox"] = [int(v) for v in item["bbox"]]
    return doc


def _box(value: Iterable[Any]) -> Box:
    x, y, w, h = (int(v) for v in value)
    if w <= 0 or h <= 0:
        raise ValueError(f"empty box {[x, y, w, h]}")
    return (x, y, w, h)


def _page_from_json(doc: dict[str, Any]) -> Page:
    ornaments = [Ornament(id=str(o["id"]), bbox=_box(o["bbox"])) for o in doc.get("ornaments", [])]
    instances = [
        Instance(
            bbox=_box(i["bbox"]),
            motif=str(i["motif"]),
            score=float(i["score"]),
            rotation=int(i.get("rotation", 0)),
            mirror=bool(i.get("mirror", False)),
            ornament=i.get("ornament"),
        )
        for i in doc.get("instances", [])
    ]
    for instance in instances:
        if instance.rotation not in (0, 90, 180, 270):
            raise ValueError(f"rotation must be 0, 90, 180 or 270, got {instance.rotation}")
    return Page(
        image=str(doc["image"]),
        width=int(doc["width"]),
        height=int(doc["height"]),
        ornaments=ornaments,
        instances=instances,
    )


def _check_references(pages: list[Page], motif_ids: set[str]) -> None:
    for page in pages:
        for instance in page.instances:
            if instance.motif not in motif_ids:
                raise DecompositionError(
                    f"{page.image}: instance refers to unknown motif {instance.motif!r}"
                )
