"""The vignette bank: printers' flowers rendered from ornament fonts, one PNG per block design.

Each design is one motif (one category of the benchmark). Glyphs that are rotations or mirrors of
an earlier glyph of the same font are not new designs: they are recorded as ``variants`` of it, so
the benchmark can count "same motif, other orientation" as the right answer. Designs are split
into ``seen`` (used on training pages) and ``unseen`` (held out) per font, by seed.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from service.dihedral import Orientation
from training.variants import DesignClass, group_variants, symmetries

DEFAULT_BANK_DIR = Path(__file__).resolve().parent / "data" / "vignettes"
FORMAT = 1
SPLITS = ("seen", "unseen")


@dataclass(frozen=True)
class Design:
    """One block design = one motif = one category of the benchmark."""

    id: str
    name: str
    font: str
    glyph: str
    image: str
    width: int
    height: int
    split: str
    symmetries: tuple[Orientation, ...]
    variants: tuple[tuple[str, Orientation], ...]


@dataclass
class VignetteBank:
    folder: Path
    designs: tuple[Design, ...]
    _ink: dict[str, np.ndarray] = field(default_factory=dict, repr=False)

    def design(self, design_id: str) -> Design:
        for design in self.designs:
            if design.id == design_id:
                return design
        raise KeyError(f"no design {design_id!r} in the bank at {self.folder}")

    def split(self, name: str) -> tuple[Design, ...]:
        if name not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, got {name!r}")
        return tuple(d for d in self.designs if d.split == name)

    def ink(self, design_id: str) -> np.ndarray:
        """The design's ink coverage, float32 H x W in [0, 1] (1 = ink); read once, then cached."""
        if design_id not in self._ink:
            path = self.folder / self.design(design_id).image
            with Image.open(path) as image:
                pixels = np.asarray(image.convert("L"), dtype=np.float32)
            self._ink[design_id] = 1.0 - pixels / 255.0
        return self._ink[design_id]


# --- split, files ---------------------------------------------------------------------------


def _unseen_ids(by_font: dict[str, list[str]], fraction: float, seed: int) -> set[str]:
    """Per font, ``ceil(fraction * n)`` designs held out, so every font has unseen designs and
    the overall fraction is never below ``fraction``."""
    rng = random.Random(seed)
    unseen: set[str] = set()
    for font in sorted(by_font):
        ids = sorted(by_font[font])
        unseen.update(rng.sample(ids, math.ceil(fraction * len(ids))))
    return unseen


def _png_bytes(ink: np.ndarray) -> bytes:
    from io import BytesIO

    buffer = BytesIO()
    pixels = np.round((1.0 - ink) * 255.0).astype(np.uint8)
    Image.fromarray(pixels, mode="L").save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


def _orientation_json(o: Orientation) -> dict[str, object]:
    return {"rotation": o.rotation, "mirror": o.mirror}


def _design_json(design: Design, sha256: str) -> dict[str, object]:
    return {
        "id": design.id,
        "name": design.name,
        "font": design.font,
        "glyph": design.glyph,
        "image": design.image,
        "sha256": sha256,
        "width": design.width,
        "height": design.height,
        "split": design.split,
        "symmetries": [_orientation_json(o) for o in design.symmetries],
        "variants": [{"glyph": g, **_orientation_json(o)} for g, o in design.variants],
    }


def render_bank(
    fonts_dir: Path,
    out_dir: Path,
    *,
    unseen_fraction: float = 0.25,
    seed: int = 0,
    max_glyphs_per_font: int | None = None,
) -> VignetteBank:
    """Render every usable ornament glyph of ``training.glyphs.FONTS`` into ``out_dir`` and
    index it.

    ``max_glyphs_per_font`` limits each font to its first usable glyphs (for quick tests).
    Rerunning with the same fonts and arguments writes the same bytes.
    """
    # FreeType only here: loading a rendered bank needs none of it.
    from training.glyphs import EM_PX, FONTS, FontSpec, open_face, usable_glyphs

    if not 0.0 < unseen_fraction < 1.0:
        raise ValueError(f"unseen_fraction must be in (0, 1), got {unseen_fraction}")
    fonts_dir, out_dir = Path(fonts_dir), Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    for stale in out_dir.glob("v*.png"):
        stale.unlink()
    classes: list[tuple[FontSpec, DesignClass]] = []
    for spec in FONTS:
        face = open_face(fonts_dir / spec.file)
        glyphs = list(usable_glyphs(face, spec))[:max_glyphs_per_font]
        classes += [(spec, cls) for cls in group_variants(glyphs)]
    ids = [f"v{n:04d}" for n in range(1, len(classes) + 1)]
    by_font: dict[str, list[str]] = {}
    for design_id, (spec, _) in zip(ids, classes, strict=True):
        by_font.setdefault(spec.file, []).append(design_id)
    unseen = _unseen_ids(by_font, unseen_fraction, seed)
    entries = []
    for design_id, (spec, cls) in zip(ids, classes, strict=True):
        design = Design(
            id=design_id,
            name=f"{spec.label} / {cls.glyph}",
            font=spec.file,
            glyph=cls.glyph,
            image=f"{design_id}.png",
            width=cls.ink.shape[1],
            height=cls.ink.shape[0],
            split="unseen" if design_id in unseen else "seen",
            symmetries=symmetries(cls.ink),
            variants=tuple(cls.variants),
        )
        png = _png_bytes(cls.ink)
        (out_dir / design.image).write_bytes(png)
        entries.append(_design_json(design, hashlib.sha256(png).hexdigest()))
    index = {
        "format": FORMAT,
        "em_px": EM_PX,
        "split": {"seed": seed, "unseen_fraction": unseen_fraction},
        "designs": entries,
    }
    (out_dir / "vignettes.json").write_text(json.dumps(index, indent=1) + "\n")
    return load_bank(out_dir)


# --- loading --------------------------------------------------------------------------------


def _orientation(entry: dict) -> Orientation:
    return Orientation(int(entry["rotation"]), bool(entry["mirror"]))


def _load_design(folder: Path, entry: dict) -> Design:
    design = Design(
        id=entry["id"],
        name=entry["name"],
        font=entry["font"],
        glyph=entry["glyph"],
        image=entry["image"],
        width=int(entry["width"]),
        height=int(entry["height"]),
        split=entry["split"],
        symmetries=tuple(_orientation(o) for o in entry["symmetries"]),
        variants=tuple((v["glyph"], _orientation(v)) for v in entry["variants"]),
    )
    if design.split not in SPLITS:
        raise ValueError(f"design {design.id}: split {design.split!r} is not one of {SPLITS}")
    path = folder / design.image
    if not path.is_file():
        raise ValueError(f"design {design.id}: image {path} is missing")
    if hashlib.sha256(path.read_bytes()).hexdigest() != entry["sha256"]:
        raise ValueError(f"design {design.id}: {path} does not match its recorded sha256")
    with Image.open(path) as image:
        if image.size != (design.width, design.height):
            raise ValueError(
                f"design {design.id}: {path} is {image.size}, "
                f"recorded {(design.width, design.height)}"
            )
    return design


def load_bank(folder: Path | None = None) -> VignetteBank:
    """Read and check a bank folder (default: the bank shipped with the package).

    Every image must exist with its recorded size and sha256: a bank edited by hand or half
    regenerated would silently change the benchmark's categories.
    """
    folder = Path(folder) if folder is not None else DEFAULT_BANK_DIR
    index_path = folder / "vignettes.json"
    try:
        index = json.loads(index_path.read_text())
    except FileNotFoundError:
        raise ValueError(
            f"no vignette bank at {folder}: {index_path.name} is missing "
            "(build one with `florilege-train bank --fonts DIR --out DIR`)"
        ) from None
    except json.JSONDecodeError as error:
        raise ValueError(f"{index_path} is not valid JSON: {error}") from None
    if not isinstance(index, dict) or index.get("format") != FORMAT:
        found = index.get("format") if isinstance(index, dict) else None
        raise ValueError(f"{index_path}: format {found!r}, this code reads format {FORMAT}")
    try:
        designs = tuple(_load_design(folder, entry) for entry in index["designs"])
    except (KeyError, TypeError) as error:
        raise ValueError(f"{index_path}: a design entry lacks or mistypes {error}") from None
    if len({d.id for d in designs}) != len(designs):
        raise ValueError(f"{index_path}: design ids are not unique")
    return VignetteBank(folder=folder, designs=designs)
