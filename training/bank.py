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
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import freetype
import numpy as np
from PIL import Image
from scipy import ndimage

from service.dihedral import ALL_ORIENTATIONS, IDENTITY, Orientation, orient

DEFAULT_BANK_DIR = Path(__file__).resolve().parent / "data" / "vignettes"
FORMAT = 1
EM_PX = 128
MARGIN_PX = 2
MIN_SIDE_PX = 8
#: Two inks show the same block design when, in the best orientation and both scaled to a
#: longest side of ``COMPARE_SIDE`` px, their IoU is at least ``MIN_IOU`` and the part of their
#: difference thicker than 2 px (what survives an opening with a 3x3 square) covers less than
#: ``1 - VARIANT_AGREEMENT`` of their union. The opening discards what rasterisation, wear and
#: hairlines change; it keeps a different petal or leaf. Scaling first makes "2 px" the same
#: fraction of a small flower and of a large frame piece. Measured on these fonts
#: (docs/vignette-bank.md): same designs >= 0.99, different designs <= 0.95.
COMPARE_SIDE = 128
MIN_IOU = 0.6
VARIANT_AGREEMENT = 0.98
#: A design is symmetric under an orientation when it maps onto itself this well (stricter).
SYMMETRY_AGREEMENT = 0.99
_OPENING = np.ones((3, 3), dtype=bool)
SPLITS = ("seen", "unseen")


@dataclass(frozen=True)
class FontSpec:
    """One ornament font and which of its glyphs are ornaments rather than text."""

    file: str
    label: str
    keep: Callable[[str], bool] = field(default=lambda glyph: True)
    codepoints: tuple[int, ...] = ()  # when set, only these characters (named U+XXXX)


_NOT_GLYPHS = {".notdef", ".null", "nonmarkingreturn", "space", "nobreakspace"}
# Plain text, modern signs and jokes: not printers' ornaments.
_ADF_TEXT = {"section", "bullet"}
_FOURIER_TEXT = {"noway", "warning", "caution", "bomb", "grimace", "thething", "euro"}
# Symbola's et ligatures, ampersands, quotation marks, interrobangs and solidi are letters.
_SYMBOLA_TEXT = set(range(0x1F670, 0x1F67E))

FONTS: tuple[FontSpec, ...] = (
    FontSpec("FeFlow1.otf", "IM Fell Flowers 1"),
    FontSpec("OrnementsADF.pfb", "Ornements ADF", lambda g: g not in _ADF_TEXT),
    FontSpec(
        "FourierOrns-Regular.otf",
        "Fourier Ornaments",
        lambda g: g not in _FOURIER_TEXT and not g.startswith("pilcrow"),
    ),
    FontSpec(
        "Symbola_hint.ttf",
        "Symbola",
        codepoints=tuple(
            c
            for c in (*range(0x1F650, 0x1F680), 0x2619, 0x2766, 0x2767, *range(0x273F, 0x274C))
            if c not in _SYMBOLA_TEXT
        ),
    ),
)


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


# --- rendering ------------------------------------------------------------------------------


def _open_face(path: Path) -> freetype.Face:
    face = freetype.Face(str(path))
    face.set_char_size(EM_PX * 64)
    return face


def _glyph_index(face: freetype.Face, glyph: str) -> int:
    if glyph.startswith("U+"):
        index = face.get_char_index(int(glyph[2:], 16))
    else:
        index = face.get_name_index(glyph.encode())
    if not index:
        raise KeyError(f"glyph {glyph!r} not in {face.family_name.decode()}")
    return int(index)


def _render_index(face: freetype.Face, index: int) -> np.ndarray:
    # No hinting: grid fitting would make a glyph and its rotated twin differ more than they are.
    face.load_glyph(index, freetype.FT_LOAD_RENDER | freetype.FT_LOAD_NO_HINTING)
    bitmap = face.glyph.bitmap
    if not bitmap.rows or not bitmap.width:
        return np.zeros((0, 0), dtype=np.float32)
    coverage = np.array(bitmap.buffer, dtype=np.uint8).reshape(bitmap.rows, bitmap.pitch)
    return _crop(coverage[:, : bitmap.width].astype(np.float32) / 255.0)


def _crop(ink: np.ndarray) -> np.ndarray:
    rows, cols = np.nonzero(ink)
    if not rows.size:
        return np.zeros((0, 0), dtype=np.float32)
    tight = ink[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1]
    return np.pad(tight, MARGIN_PX).astype(np.float32)


def render_glyph(font_path: Path, glyph: str) -> np.ndarray:
    """Ink (float32, 1 = ink) of one glyph (glyph name or ``U+XXXX``), rendered as the bank does."""
    face = _open_face(font_path)
    return _render_index(face, _glyph_index(face, glyph))


def _font_glyphs(face: freetype.Face, spec: FontSpec) -> Iterator[tuple[str, int]]:
    if spec.codepoints:
        for code in spec.codepoints:
            if index := face.get_char_index(code):
                yield f"U+{code:04X}", int(index)
        return
    for index in range(face.num_glyphs):
        name = face.get_glyph_name(index).decode()
        if name not in _NOT_GLYPHS and spec.keep(name):
            yield name, index


def _usable_glyphs(face: freetype.Face, spec: FontSpec) -> Iterator[tuple[str, np.ndarray]]:
    """Glyphs with enough ink to be a block, exact duplicates dropped."""
    seen: set[tuple[tuple[int, ...], bytes]] = set()
    for glyph, index in _font_glyphs(face, spec):
        ink = _render_index(face, index)
        if max(ink.shape, default=0) < MIN_SIDE_PX + 2 * MARGIN_PX:
            continue  # blank or a speck
        key = (ink.shape, ink.tobytes())
        if key not in seen:
            seen.add(key)
            yield glyph, ink


# --- equivalence ----------------------------------------------------------------------------


def _close(a: int, b: int) -> bool:
    return abs(a - b) <= max(2, 0.1 * max(a, b))


def _binarise_like(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Both inks resized to ``b``'s aspect with a longest side of ``COMPARE_SIDE``, binarised."""
    scale = COMPARE_SIDE / max(b.shape)
    size = (round(b.shape[1] * scale), round(b.shape[0] * scale))

    def binarise(ink: np.ndarray) -> np.ndarray:
        resized = Image.fromarray(ink, mode="F").resize(size, Image.Resampling.BILINEAR)
        return np.asarray(resized) > 0.5

    return binarise(a), binarise(b)


def agreement(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """(IoU, structural agreement) of the inks ``a`` and ``b``; zeros when their sizes are too
    different to be the same block."""
    if not (_close(a.shape[0], b.shape[0]) and _close(a.shape[1], b.shape[1])):
        return 0.0, 0.0
    ink_a, ink_b = _binarise_like(a, b)
    union = np.logical_or(ink_a, ink_b).sum()
    if not union:
        return 0.0, 0.0
    iou = np.logical_and(ink_a, ink_b).sum() / union
    thick = ndimage.binary_opening(ink_a ^ ink_b, structure=_OPENING).sum()
    return float(iou), float(1.0 - thick / union)


def _same(scores: tuple[float, float], threshold: float) -> bool:
    return scores[0] >= MIN_IOU and scores[1] >= threshold


def best_orientation(canonical: np.ndarray, other: np.ndarray) -> tuple[Orientation, float, float]:
    """The orientation ``o`` for which ``orient(canonical, o)`` looks most like ``other``, with
    its (IoU, structural agreement)."""
    scored = [(agreement(orient(canonical, o), other), o) for o in ALL_ORIENTATIONS]
    (iou, structure), found = max(scored, key=lambda pair: pair[0])  # first (identity) on ties
    return found, iou, structure


def symmetries(ink: np.ndarray) -> tuple[Orientation, ...]:
    found = [
        o
        for o in ALL_ORIENTATIONS
        if o == IDENTITY or _same(agreement(orient(ink, o), ink), SYMMETRY_AGREEMENT)
    ]
    return tuple(found)


@dataclass
class _Class:
    glyph: str
    ink: np.ndarray
    variants: list[tuple[str, Orientation]] = field(default_factory=list)


def group_variants(glyphs: list[tuple[str, np.ndarray]]) -> list[_Class]:
    """Greedy, in font order: a glyph joins the first earlier design it matches, else starts one.

    Matching against the canonical only (never against another variant) keeps every recorded
    orientation relative to the canonical and stops chains of near matches from merging designs.
    """
    classes: list[_Class] = []
    for glyph, ink in glyphs:
        for cls in classes:
            orientation, iou, structure = best_orientation(cls.ink, ink)
            if _same((iou, structure), VARIANT_AGREEMENT):
                cls.variants.append((glyph, orientation))
                break
        else:
            classes.append(_Class(glyph, ink))
    return classes


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
    """Render every usable ornament glyph of :data:`FONTS` into ``out_dir`` and index it.

    ``max_glyphs_per_font`` limits each font to its first usable glyphs (for quick tests).
    Rerunning with the same fonts and arguments writes the same bytes.
    """
    if not 0.0 < unseen_fraction < 1.0:
        raise ValueError(f"unseen_fraction must be in (0, 1), got {unseen_fraction}")
    fonts_dir, out_dir = Path(fonts_dir), Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    for stale in out_dir.glob("v*.png"):
        stale.unlink()
    classes: list[tuple[FontSpec, _Class]] = []
    for spec in FONTS:
        face = _open_face(fonts_dir / spec.file)
        glyphs = list(_usable_glyphs(face, spec))[:max_glyphs_per_font]
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
