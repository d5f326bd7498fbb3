"""The benchmark's annotation file (DESIGN.md): COCO detection, plus each instance's
orientation and ornament, and the ornaments themselves.

Categories are every design of the split, used or not, so that two datasets of one split share
their category ids and a scorer can name designs that never appeared.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from service.dihedral import Orientation
from training.bank import Design
from training.synth.geometry import Box
from training.synth.render import Instance

GENERATOR = "florilege-synth 1"


@dataclass(frozen=True)
class Made:
    """One image written to disk and what its annotations need."""

    file_name: str
    width: int
    height: int
    dpi: float
    instances: tuple[Instance, ...]
    ornaments: tuple[tuple[str, Box], ...]  # kind, box


def _orientation(o: Orientation) -> dict[str, Any]:
    return {"rotation": o.rotation, "mirror": o.mirror}


def category(number: int, design: Design) -> dict[str, Any]:
    return {
        "id": number,
        "name": design.name,
        "design": design.id,
        "source": {"font": design.font, "glyph": design.glyph},
        "symmetries": [_orientation(o) for o in design.symmetries],
    }


class Annotations:
    """The dataset's COCO document, filled one image at a time."""

    def __init__(self, designs: Sequence[Design], info: dict[str, Any]) -> None:
        self.info = {"generator": GENERATOR, **info}
        self.categories = [category(n, d) for n, d in enumerate(designs, start=1)]
        self._category = {d.id: n for n, d in enumerate(designs, start=1)}
        self.images: list[dict[str, Any]] = []
        self.annotations: list[dict[str, Any]] = []
        self.ornaments: list[dict[str, Any]] = []

    def add(self, made: Made) -> None:
        image_id = len(self.images) + 1
        self.images.append(
            {
                "id": image_id,
                "file_name": made.file_name,
                "width": made.width,
                "height": made.height,
                "dpi": round(made.dpi, 1),
            }
        )
        first_ornament = len(self.ornaments) + 1
        for index, (kind, box) in enumerate(made.ornaments):
            self.ornaments.append(
                {
                    "id": first_ornament + index,
                    "image_id": image_id,
                    "bbox": _xywh(box),
                    "kind": kind,
                }
            )
        for instance in made.instances:
            bbox = _xywh(instance.box)
            self.annotations.append(
                {
                    "id": len(self.annotations) + 1,
                    "image_id": image_id,
                    "bbox": bbox,
                    "area": bbox[2] * bbox[3],
                    "iscrowd": 0,
                    "category_id": self._category[instance.design],
                    "ornament_id": first_ornament + instance.ornament,
                    **_orientation(instance.orientation),
                }
            )

    def write(self, path: Path) -> None:
        document = {
            "info": self.info,
            "images": self.images,
            "annotations": self.annotations,
            "categories": self.categories,
            "ornaments": self.ornaments,
        }
        Path(path).write_text(json.dumps(document, indent=1) + "\n")


def _xywh(box: Box) -> list[int]:
    x0, y0, x1, y1 = box
    return [int(x0), int(y0), int(x1 - x0), int(y1 - y0)]
