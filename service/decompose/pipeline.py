"""Pages in, decomposition out: segment every page, then cluster all instances together."""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple, TypeVar

import numpy as np
from PIL import Image

from service.decompose.cluster import (
    Clustering,
    ClusterParams,
    FineCrops,
    cluster_views,
    grouped,
    instance_scores,
)
from service.decompose.constellations import ConstellationParams, Piece, join_pieces, joined_boxes
from service.decompose.describe import TEMPLATE_SIZE, Describer, TemplateDescriber, template
from service.decompose.dictionary import (
    DictionaryParams,
    best_cutting,
    closest_motifs,
    closest_views,
    established_motifs,
    grid_cuttings,
    set_as_bands,
    trusted_matches,
)
from service.decompose.matching import (
    SPECK_SHARE,
    MatchParams,
    missed_placements,
    paper_tone,
    pieces_within,
    split_runs,
)
from service.decompose.repeats import (
    RepeatParams,
    chained_repeats,
    periodic_runs,
    split_touching_on_page,
    stroke_clusters,
)
from service.decompose.segment import (
    SegmentParams,
    as_boxes,
    binarize,
    block_shaped,
    enclosing_box,
    fallback_x_height,
    group_ornaments,
    ink_map,
    large_instances,
    lying_within,
    misread_x_height,
    narrow_sorts,
    narrow_stroke_blocks,
    not_page_wide,
    overlapping,
    relative_gaps,
    small_strokes,
    split_by_size,
    stroke_blocks,
    stroke_groups,
)
from service.decompose.text import (
    TextParams,
    between_letters,
    read_among_letters,
    set_in_lines,
    stands_in_a_line,
    text_like,
)
from service.decompose.wholes import WholeParams, candidate_groups, chosen_wholes, union_of
from service.decomposition import Box, Decomposition, Instance, Motif, Ornament, Page

#: Pages whose instances are described in one call, so that a model bundle runs on batches of
#: a few hundred crops (times eight orientations) rather than one page's few dozen.
DESCRIBE_BATCH_PAGES = 8
#: Shapes set aside described in one call (their upright views only): pages set aside hundreds.
DESCRIBE_BATCH_SPARES = 2048
#: Side of the finer crops that tell apart motifs alike at the template's size.
FINE_SIZE = 2 * TEMPLATE_SIZE
#: A shape set aside grown over kept instances is a whole of them when its box is at least
#: this many times the largest one's area.
PIECE_AREA = 4.0
#: Two placements sharing more than this share of the larger one's area stand at one place.
SAME_PLACE = 0.8
#: A page's motif is searched for with one exemplar per size class, classes this ratio apart
#: (long side): a block printed at two sizes on one page is found at each from its own size.
EXEMPLAR_SIZE_RATIO = 1.15
T = TypeVar("T")
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp"}


@dataclass(frozen=True)
class PageImage:
    name: str
    pixels: np.ndarray  # grayscale uint8, H x W


@dataclass(frozen=True)
class BaselineParams:
    segment: SegmentParams = field(default_factory=SegmentParams)
    repeats: RepeatParams = field(default_factory=RepeatParams)
    text: TextParams = field(default_factory=TextParams)
    cluster: ClusterParams = field(default_factory=ClusterParams)
    constellations: ConstellationParams = field(default_factory=ConstellationParams)
    wholes: WholeParams = field(default_factory=WholeParams)
    matching: MatchParams = field(default_factory=MatchParams)
    dictionary: DictionaryParams = field(default_factory=DictionaryParams)
    # Instances scoring below this are left out: most are text or specks that recur nowhere.
    min_score: float = 0.55


@dataclass
class PageFindings:
    """What one page yields before clustering: instance boxes and their descriptors."""

    page: PageImage
    boxes: list[Box]
    templates: np.ndarray  # (N, S, S) for prototype images
    views: np.ndarray  # (N, 8, D) for comparing instances
    fine: np.ndarray  # (N, F, F) uint8 crops twice the templates' size, for splitting motifs
    strokes: np.ndarray  # (M, 4) the page's letter-sized components (x, y, w, h)
    x_height: float  # the page's text x-height, in pixels
    details: np.ndarray | None = None  # (N, s, s) uint8 larger crops, kept for a catalogue
    # (M, 4) shapes segmentation set aside (blocks of large components, clusters of strokes),
    # to be compared with the collection's motifs (``dictionary``); an array, not boxes, as a
    # page sets aside hundreds and a collection holds thousands of pages.
    spares: np.ndarray = field(default_factory=lambda: np.zeros((0, 4), np.int64))


@dataclass
class Discovery:
    """A decomposition with what produced it: the catalogue is written from this."""

    decomposition: Decomposition
    findings: list[PageFindings]
    clustering: Clustering
    motif_ids: dict[int, str]  # motif index in ``clustering`` → id, for kept motifs
    kept: np.ndarray  # (N,) instances that made it into the decomposition


class PageReadError(ValueError):
    """An image file that cannot be read as a page."""


def read_page(path: Path) -> PageImage:
    """Load an image file as a grayscale page (Pillow's decompression-bomb guard applies)."""
    try:
        with Image.open(path) as image:
            return PageImage(name=str(path), pixels=np.asarray(image.convert("L")))
    except (OSError, Image.DecompressionBombError) as err:
        raise PageReadError(f"cannot read {path} as a page image: {err}") from err


def expand_paths(paths: Iterable[Path]) -> list[Path]:
    """Image files among ``paths``, folders searched recursively, in a stable order."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found.extend(sorted(p for p in path.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES))
        elif path.is_file():
            found.append(path)
        else:
            raise FileNotFoundError(f"no such image or folder: {path}")
    return found


def decompose_paths(
    paths: Sequence[Path],
    params: BaselineParams | None = None,
    describer: Describer | None = None,
) -> Decomposition:
    """Decompose image files and folders of images (read one at a time to bound memory)."""
    return discover(map(read_page, expand_paths(paths)), params, describer).decomposition


def decompose_images(
    pages: Sequence[PageImage],
    params: BaselineParams | None = None,
    describer: Describer | None = None,
) -> Decomposition:
    """Discover motifs across all ``pages`` and place their instances, without labels.

    ``describer`` compares instances: template pixels by default, or a model bundle's learned
    embedding (``describer_for``).
    """
    return discover(pages, params, describer).decomposition


def discover(
    pages: Iterable[PageImage],
    params: BaselineParams | None = None,
    describer: Describer | None = None,
    known: KnownMotifs | None = None,
    detail_size: int | None = None,
) -> Discovery:
    """The decomposition of ``pages`` with its clustering.

    With ``known`` motifs (a catalogue's), instances are assigned to them first and only the
    rest form new motifs. ``detail_size`` keeps larger crops of every instance, for prototypes
    and difference maps.
    """
    params = params or BaselineParams()
    chosen = describer or TemplateDescriber()
    check_descriptor(known, chosen)
    findings = [
        found
        for batch in _batches(pages, DESCRIBE_BATCH_PAGES)
        for found in _describe([_locate(page, params) for page in batch], chosen, detail_size)
    ]
    first = assemble(findings, params, chosen, known)
    groups = _piece_groups(findings, first, params.constellations)
    wholes = _whole_groups(findings, first, groups, chosen, params.wholes)
    groups = [page + more for page, more in zip(groups, wholes, strict=True)]
    if any(groups):
        # Blocks made of several pieces are described and clustered again as wholes.
        joined = [
            joined_boxes(f.boxes, g) if g else None for f, g in zip(findings, groups, strict=True)
        ]
        findings = _redescribed(findings, joined, chosen, detail_size)
        first = assemble(findings, params, chosen, known)
    found_again = _found_by_the_dictionary(findings, first, chosen, params)
    found_again = _cut_by_the_dictionary(findings, first, found_again, chosen, params)
    if any(found_again):
        findings = _redescribed(findings, found_again, chosen, detail_size)
        first = assemble(findings, params, chosen, known)
    completed = _completed(findings, first, params)
    if not any(completed):
        return first
    # Impressions found by matching a page's own motifs are clustered with the rest.
    return assemble(_redescribed(findings, completed, chosen, detail_size), params, chosen, known)


def _redescribed(
    findings: list[PageFindings],
    boxes: list[list[Box] | None],
    describer: Describer,
    detail_size: int | None,
) -> list[PageFindings]:
    """``findings`` with the pages that have new ``boxes`` (not None) described again."""
    redone = list(findings)
    todo = [(page, page_boxes) for page, page_boxes in enumerate(boxes) if page_boxes is not None]
    for batch in _batches(todo, DESCRIBE_BATCH_PAGES):
        # Ink is computed again rather than kept from the first pass: a float map per page,
        # held for a whole collection, would cost far more memory than recomputing a batch's.
        located = [
            _Located(
                findings[page].page,
                ink_map(findings[page].page.pixels),
                page_boxes,
                findings[page].strokes,
                findings[page].x_height,
                findings[page].spares,
            )
            for page, page_boxes in batch
        ]
        for (page, _), found in zip(batch, _describe(located, describer, detail_size), strict=True):
            redone[page] = found
    return redone


def _completed(
    findings: list[PageFindings], found: Discovery, params: BaselineParams
) -> list[list[Box] | None]:
    """Per page, its boxes with the placements of its motifs that segmentation missed and
    without the specks inside its blocks (None where nothing changes)."""
    scores = instance_scores(found.clustering)
    completed: list[list[Box] | None] = []
    for page, (start, kept) in zip(findings, _kept_per_page(findings, found), strict=True):
        best: dict[tuple[int, int], int] = {}
        for i in kept:
            key = (int(found.clustering.labels[start + i]), _size_class(page.boxes[i]))
            if key not in best or scores[start + i] > scores[start + best[key]]:
                best[key] = i
        exemplars = [page.boxes[i] for i in best.values()]
        kept_boxes = [page.boxes[i] for i in kept]
        runs, blocks = _missed(page, kept_boxes, exemplars, params)
        replaced = set(pieces_within(blocks, kept_boxes)) | set(runs)
        added = [part for parts in runs.values() for part in parts] + blocks
        boxes = [b for b in page.boxes if b not in replaced] + added
        # Only kept blocks hold specks: a candidate rejected as type may be a box of any size.
        blocks_kept = [b for b in kept_boxes if b not in replaced] + added
        specks = set(pieces_within(blocks_kept, boxes, SPECK_SHARE))
        changed = added or specks
        completed.append([b for b in boxes if b not in specks] if changed else None)
    return completed


def _size_class(box: Box) -> int:
    """The class of ``box``'s long side on a log scale of step ``EXEMPLAR_SIZE_RATIO``."""
    return round(math.log(max(box[2:])) / math.log(EXEMPLAR_SIZE_RATIO))


def _found_by_the_dictionary(
    findings: list[PageFindings], found: Discovery, describer: Describer, params: BaselineParams
) -> list[list[Box] | None]:
    """Per page, its boxes with the shapes set aside that are impressions of the collection's
    established motifs (see ``dictionary``), in place of the candidates left out that they
    overlap and of the kept pieces they hold (``_round_kept_pieces``); None where there are
    none."""
    chosen = params.dictionary
    labels = found.clustering.labels
    motifs, pages_found = established_motifs(labels, found.kept, _page_of(findings), chosen)
    if not len(motifs):
        return [None for _ in findings]
    kept_boxes = [
        [page.boxes[i] for i in kept]
        for page, (_, kept) in zip(findings, _kept_per_page(findings, found), strict=True)
    ]
    spares = [
        _outside(as_boxes(page.spares), kept) + _round_kept_pieces(as_boxes(page.spares), kept)
        for page, kept in zip(findings, kept_boxes, strict=True)
    ]
    matches = _dictionary_matches(
        findings, spares, found.clustering.views[motifs], describer, chosen.likeness
    )
    motif_of = np.array([match.motif for match in matches], dtype=np.int64)
    page_of = np.array([match.page for match in matches], dtype=np.int64)
    boxes = np.array([match.box for match in matches], dtype=np.int64).reshape(-1, 4)
    trusted = trusted_matches(motif_of, page_of, pages_found, chosen.page_share)
    trusted |= set_as_bands(boxes, motif_of, page_of, chosen.min_band)
    added: list[list[Box]] = [[] for _ in findings]
    # The likest first: a cluster of strokes and the block around it may both match.
    for match in sorted(itertools.compress(matches, trusted), key=lambda m: -m.likeness):
        if not _overlaps_any(match.box, added[match.page]):
            added[match.page].append(match.box)
    return [
        [box for box in page.boxes if _left_beside(box, kept, more)] + more if more else None
        for page, kept, more in zip(findings, kept_boxes, added, strict=True)
    ]


def _cut_by_the_dictionary(
    findings: list[PageFindings],
    found: Discovery,
    boxes: list[list[Box] | None],
    describer: Describer,
    params: BaselineParams,
) -> list[list[Box] | None]:
    """Per page, its ``boxes`` (the page's own where None) with each kept instance that is an
    even grid of impressions of established motifs cut into them (see ``dictionary``); None
    where nothing changes. Instances of established motifs are blocks, never cut."""
    labels = found.clustering.labels
    motifs, _ = established_motifs(labels, found.kept, _page_of(findings), params.dictionary)
    if not len(motifs):
        return boxes
    established = set(motifs.tolist())
    prototypes = found.clustering.views[motifs]
    cut: list[list[Box] | None] = []
    for page, (start, kept), page_boxes in zip(
        findings, _kept_per_page(findings, found), boxes, strict=True
    ):
        current = page.boxes if page_boxes is None else page_boxes
        loose = [
            page.boxes[i]
            for i in kept
            if int(labels[start + i]) not in established and page.boxes[i] in current
        ]
        cells = _cells_of_motifs(page, loose, prototypes, describer, params.dictionary.likeness)
        cut.append([c for box in current for c in cells.get(box, [box])] if cells else page_boxes)
    return cut


def _cells_of_motifs(
    page: PageFindings,
    boxes: list[Box],
    prototypes: np.ndarray,
    describer: Describer,
    likeness: float,
) -> dict[Box, list[Box]]:
    """The ``boxes`` of ``page`` that cut evenly into cells each ``likeness`` alike to one of
    the (E, 8, D) ``prototypes``, with their cells."""
    if not boxes:
        return {}
    ink = ink_map(page.page.pixels)
    mask = binarize(ink)
    cuttings = [grid_cuttings(mask, box) for box in boxes]
    cells = [cell for per_box in cuttings for cutting in per_box for cell in cutting]
    if not cells:
        return {}
    upright = describer.upright(_crops(ink, cells, describer.size))
    motif, view, alike = closest_views(upright, prototypes)
    chosen: dict[Box, list[Box]] = {}
    start = 0
    for box, per_box in zip(boxes, cuttings, strict=True):
        count = sum(len(cutting) for cutting in per_box)
        cut = slice(start, start + count)
        best = best_cutting(per_box, motif[cut], view[cut], alike[cut], likeness)
        start += count
        if best:
            chosen[box] = best
    return chosen


def _round_kept_pieces(spares: list[Box], kept: list[Box]) -> list[Box]:
    """Each shape set aside that overlaps kept instances, grown over them, where they are
    small beside it: the strokes of a spoked flower cluster as its middle, set aside, while
    its longest spokes, alike to each other, were kept as a motif of their own."""
    if not kept:
        return []
    pieces = np.array(kept, dtype=np.int64)
    grown = []
    for spare in spares:
        over = pieces[overlapping(pieces, np.array([spare]))[:, 0]]
        union = enclosing_box(np.array([spare, *over]))
        if len(over) and union[2] * union[3] >= PIECE_AREA * (over[:, 2] * over[:, 3]).max():
            grown.append(union)
    return grown


def _left_beside(box: Box, kept: list[Box], found: list[Box]) -> bool:
    """Whether a candidate stays beside the impressions ``found`` by the dictionary: a kept
    one unless it lies within one of them (a piece of it), another unless it overlaps one."""
    if box in kept:
        return not any(lying_within(np.array([box]), whole, 0.5)[0] for whole in found)
    return not _overlaps_any(box, found)


class _Match(NamedTuple):
    page: int
    box: Box
    motif: int  # index into the prototypes compared
    likeness: float


def _dictionary_matches(
    findings: list[PageFindings],
    spares: list[list[Box]],
    prototypes: np.ndarray,
    describer: Describer,
    likeness: float,
) -> list[_Match]:
    """The shapes ``spares`` (per page) at least ``likeness`` alike to one of the (E, 8, D)
    ``prototypes``, each with its closest."""
    matches: list[_Match] = []
    for batch in _batches_of_crops([len(page_spares) for page_spares in spares]):
        pages = [findings[p] for p in batch]
        views = _box_views(pages, [spares[p] for p in batch], describer, upright=True)
        for page, page_views in zip(batch, views, strict=True):
            closest, alike = closest_motifs(page_views, prototypes)
            matches += [
                _Match(page, box, int(motif), float(score))
                for box, motif, score in zip(spares[page], closest, alike, strict=True)
                if score >= likeness
            ]
    return matches


def _page_of(findings: list[PageFindings]) -> np.ndarray:
    """The page index of every instance of ``findings``, in order."""
    return np.concatenate(
        [np.zeros(0, np.int64), *(np.full(len(f.boxes), i) for i, f in enumerate(findings))]
    )


def _kept_per_page(findings: list[PageFindings], found: Discovery) -> list[tuple[int, list[int]]]:
    """Per page, the index of its first instance in ``found`` and its kept instances' indices
    on the page."""
    starts = np.cumsum([0, *(len(page.boxes) for page in findings)])[:-1]
    return [
        (int(start), [i for i in range(len(page.boxes)) if found.kept[start + i]])
        for start, page in zip(starts, findings, strict=True)
    ]


def _missed(
    page: PageFindings, kept: list[Box], exemplars: list[Box], params: BaselineParams
) -> tuple[dict[Box, list[Box]], list[Box]]:
    """The kept instances that are runs of touching blocks, with their blocks
    (``split_runs``), and the placements of the page's ``exemplars`` that no kept instance
    covers and that are not type."""
    if not exemplars:
        return {}, []
    ink = ink_map(page.page.pixels)
    small, x_height = page.strokes, page.x_height
    # Exemplars that read as type are held back: matched in the body text, they would find
    # letters. Read among the page's kept instances: alone, a small sort's neighbours in its
    # band would be the strokes of the next sorts, as unlike each other as letters.
    typed = text_like(ink, exemplars, small, params.text, beside=kept)
    as_type = {box for box, is_type in zip(exemplars, typed, strict=True) if is_type}
    paper = paper_tone(ink)
    plain = [box for box in exemplars if box not in as_type]
    runs = split_runs(ink, kept, plain, x_height, params.matching, paper)
    kept = [block for box in kept for block in runs.get(box, [box])]
    # Specks much smaller than the page's blocks are left out too, most of them pieces of
    # one; a small sort set apart from those blocks is searched for all the same.
    smallest_sort = params.repeats.min_size_in_x_heights * x_height
    least = 0.5 * float(np.median([max(box[2:]) for box in kept]))
    usable = [
        box
        for box in exemplars
        if max(box[2:]) >= smallest_sort
        and box not in runs
        and (max(box[2:]) >= least or not _beside_a_larger_block(box, kept))
    ]
    chosen = [box for box in usable if box not in as_type]
    placed = missed_placements(ink, kept, chosen, x_height, params.segment, params.matching, paper)
    held = [box for box in usable if box in as_type]
    placed += _placed_in_their_band(ink, page, kept + placed, held, params, paper)
    # An exemplar that is a run segmentation left whole, one of its blocks too worn to split
    # it, finds the same runs elsewhere: those are split by the page's single blocks.
    placed_runs = split_runs(ink, placed, plain, x_height, params.matching, paper)
    blocks = [block for box in placed for block in placed_runs.get(box, [box])]
    placed = _each_place_once(blocks)
    return runs, _not_type(ink, placed, small, params.text, beside=kept)


def _each_place_once(boxes: list[Box]) -> list[Box]:
    """``boxes`` without those at the place of an earlier one: two placed runs that share a
    block both split into it. A block overlapping a smaller one stays, as before."""
    once: list[Box] = []
    for box in boxes:
        if not any(_same_place(box, other) for other in once):
            once.append(box)
    return once


def _same_place(box: Box, other: Box) -> bool:
    """Whether two boxes share more than ``SAME_PLACE`` of the larger one's area."""
    x, y, w, h = box
    ox, oy, ow, oh = other
    across = min(x + w, ox + ow) - max(x, ox)
    down = min(y + h, oy + oh) - max(y, oy)
    return max(across, 0) * max(down, 0) > SAME_PLACE * max(w * h, ow * oh)


def _beside_a_larger_block(box: Box, blocks: list[Box]) -> bool:
    """Whether ``box`` lies within its own size of a block twice its size or more."""
    larger = np.array([b for b in blocks if max(b[2:]) >= 2 * max(box[2:])], dtype=np.int64)
    if not len(larger):
        return False
    return bool(overlapping(np.array([box]), larger.reshape(-1, 4), max(box[2:])).any())


def _placed_in_their_band(
    ink: np.ndarray,
    page: PageFindings,
    kept: list[Box],
    held: list[Box],
    params: BaselineParams,
    paper: float,
) -> list[Box]:
    """The placements of the exemplars ``held`` back as type that, once placed, no longer
    read as type: a block whose neighbours in its band segmentation left as strokes (pieces
    of the next blocks, as unlike each other as letters) stands among alike blocks once they
    are found. A letter's placements are the same letter elsewhere, not its neighbours."""
    found: list[Box] = []
    for exemplar in held:
        placed = missed_placements(
            ink, kept + found, [exemplar], page.x_height, params.segment, params.matching, paper
        )
        beside = [*kept, *found, *placed]
        if placed and not text_like(ink, [exemplar], page.strokes, params.text, beside)[0]:
            found += placed
    return found


def _not_type(
    ink: np.ndarray,
    boxes: list[Box],
    strokes: np.ndarray,
    params: TextParams,
    beside: Sequence[Box] = (),
) -> list[Box]:
    """``boxes`` less those that read as type in their line (``text.text_like``), read with
    the instances ``beside`` them as neighbours."""
    text = text_like(ink, boxes, strokes, params, beside)
    return [box for box, is_text in zip(boxes, text, strict=True) if not is_text]


def _batches_of_crops(counts: list[int]) -> Iterator[list[int]]:
    """Indices of consecutive pages with crops to describe (``counts`` per page), grouped
    until they hold ``DESCRIBE_BATCH_SPARES`` crops."""
    batch: list[int] = []
    held = 0
    for page, count in enumerate(counts):
        if not count:
            continue
        batch.append(page)
        held += count
        if held >= DESCRIBE_BATCH_SPARES:
            yield batch
            batch, held = [], 0
    if batch:
        yield batch


def _batches(items: Iterable[T], size: int) -> Iterator[list[T]]:
    """Lists of ``size`` items (the last one shorter), read lazily to bound memory."""
    iterator = iter(items)
    while batch := list(itertools.islice(iterator, size)):
        yield batch


def check_descriptor(known: KnownMotifs | None, describer: Describer) -> None:
    """Refuse to match instances against motifs described another way (another bundle)."""
    if known is not None and known.descriptor != describer.name:
        raise ValueError(
            f"the catalogue was made with descriptor {known.descriptor!r}, not "
            f"{describer.name!r}: use the same model bundle as the catalogue, or no catalogue"
        )


@dataclass(frozen=True)
class KnownMotifs:
    """Motifs of an existing catalogue: ids and eight-view prototypes, for one descriptor."""

    descriptor: str
    ids: list[str]
    views: np.ndarray  # (K, 8, D)


@dataclass(frozen=True)
class _Located:
    """A page, its ink, and the boxes of its candidate instances, not yet described."""

    page: PageImage
    ink: np.ndarray
    boxes: list[Box]
    strokes: np.ndarray  # the page's letter-sized components
    x_height: float
    spares: np.ndarray  # shapes set aside, see ``PageFindings``


def _locate(page: PageImage, params: BaselineParams) -> _Located:
    ink = ink_map(page.pixels)
    mask = binarize(ink)
    sized = split_by_size(mask, params.segment)
    boxes, shapes = _find_boxes(ink, mask, sized, params)
    if not boxes and misread_x_height(sized[1], sized[2], mask.shape[0], params.segment):
        sized = split_by_size(mask, params.segment, fallback_x_height(mask.shape[0]))
        boxes, shapes = _find_boxes(ink, mask, sized, params)
    least = params.dictionary.min_size_in_x_heights * sized[2]
    spares = np.array([box for box in dict.fromkeys(shapes) if max(box[2:]) >= least])
    return _Located(page, ink, boxes, sized[1], sized[2], spares.reshape(-1, 4).astype(np.int64))


def _find_boxes(
    ink: np.ndarray,
    mask: np.ndarray,
    sized: tuple[np.ndarray, np.ndarray, float],
    params: BaselineParams,
) -> tuple[list[Box], list[Box]]:
    """Candidate instances: large blocks (touching runs split), then small repeated sorts;
    and every shape considered, blocks of large components and clusters of strokes, kept or
    not. ``sized`` is ``split_by_size`` of the page's ``mask``: large and small components,
    and the x-height."""
    large, small, x_height = sized
    seeded = large_instances(large, small, mask, params.segment)
    shapes = list(seeded)
    pieces = small_strokes(small, x_height, params.segment)
    engraved_groups = stroke_groups(pieces, x_height, ink.shape, params.segment)
    repeats = params.repeats
    runs = periodic_runs(ink, mask, pieces, x_height, repeats)
    sorts = np.array(runs, dtype=np.int64).reshape(-1, 4)
    # A cluster of strokes holding two sorts of a row (half their area or more) is those
    # sorts, not one engraved block (a worn sort's pieces, or a speck, join it to its
    # neighbour).
    engraved = [
        box
        for box in stroke_blocks(engraved_groups, x_height, params.segment)
        if not set_in_lines(ink, box, small, params.text)
        and lying_within(sorts, box, 0.5).sum() < 2
    ]
    seeded += _outside(engraved, seeded)
    parts = [
        part for box in seeded for part in split_touching_on_page(ink, mask, box, x_height, repeats)
    ]
    boxes = _not_type(ink, block_shaped(parts, ink.shape, params.segment), small, params.text)
    boxes += _outside(runs, boxes)
    # Worn sorts break into strokes, none of which repeats alone: their clusters do. (A scan's
    # dark page edge would join every stroke of the page into one cluster.)
    strokes = not_page_wide(small, ink.shape, params.segment)
    clusters = as_boxes(stroke_clusters(strokes, x_height, repeats))
    shapes += clusters
    boxes += _chained(ink, clusters, boxes, small, x_height, params)
    boxes += _chained(
        ink, as_boxes(narrow_sorts(small, x_height, params.segment)), boxes, small, x_height, params
    )
    # Engraved sorts too narrow to be taken alone, whose strokes lie further apart than a
    # worn sort's, repeat as whole sorts: tried again, with their clusters, where nothing is.
    narrow = narrow_stroke_blocks(engraved_groups, x_height, params.segment)
    if not narrow:
        return boxes, shapes
    candidates = _outside(narrow + _outside(clusters, narrow), boxes)
    return boxes + _chained(ink, candidates, boxes, small, x_height, params), shapes


def _chained(
    ink: np.ndarray,
    candidates: list[Box],
    found: list[Box],
    small: np.ndarray,
    x_height: float,
    params: BaselineParams,
) -> list[Box]:
    """The ``candidates`` that chain with each other or with the blocks ``found``
    (``chained_repeats``), outside those blocks. The tall letters of lines set one under
    another chain as a column of sorts would: read in their lines, they are type."""
    if not candidates:
        return []
    beside = np.array(found, dtype=np.int64).reshape(-1, 4)
    chained = chained_repeats(ink, np.array(candidates), x_height, params.repeats, beside=beside)
    return _outside(_not_type(ink, chained, small, params.text), found)


def _describe(
    located: list[_Located], describer: Describer, detail_size: int | None
) -> list[PageFindings]:
    """Describe the instances of several pages in one call: a model bundle gets one batch."""
    templates = [_crops(found.ink, found.boxes, TEMPLATE_SIZE) for found in located]
    fine = [_crops(found.ink, found.boxes, FINE_SIZE) for found in located]
    crops = {TEMPLATE_SIZE: templates, FINE_SIZE: fine}.get(describer.size)
    if crops is None:
        crops = [_crops(found.ink, found.boxes, describer.size) for found in located]
    views = describer.views(np.concatenate([_no_crops(describer.size), *crops]))
    per_page = np.split(views, np.cumsum([len(c) for c in crops])[:-1])
    return [
        PageFindings(
            found.page,
            found.boxes,
            t,
            v,
            _as_bytes(f),
            found.strokes,
            found.x_height,
            _details(found, detail_size),
            found.spares,
        )
        for found, t, v, f in zip(located, templates, per_page, fine, strict=True)
    ]


def _as_bytes(crops: np.ndarray) -> np.ndarray:
    return (np.clip(crops, 0, 1) * 255).astype(np.uint8)


def _details(found: _Located, detail_size: int | None) -> np.ndarray | None:
    if not detail_size:
        return None
    return _as_bytes(_crops(found.ink, found.boxes, detail_size))


def _piece_groups(
    findings: list[PageFindings], first: Discovery, params: ConstellationParams
) -> list[list[list[int]]]:
    """Per page, groups of box indices that are pieces of one block (see ``constellations``)."""
    pieces, where = [], []
    for page, (start, kept) in enumerate(_kept_per_page(findings, first)):
        for local in kept:
            label = int(first.clustering.labels[start + local])
            orientation = first.clustering.orientations[start + local]
            pieces.append(Piece(page, findings[page].boxes[local], label, orientation))
            where.append(local)
    groups: list[list[list[int]]] = [[] for _ in findings]
    for group in join_pieces(pieces, params):
        groups[pieces[group[0]].page].append([where[i] for i in group])
    return groups


def _whole_groups(
    findings: list[PageFindings],
    first: Discovery,
    joined: list[list[list[int]]],
    describer: Describer,
    params: WholeParams,
) -> list[list[list[int]]]:
    """Per page, groups of box indices (none already ``joined``) that are pieces of a block
    found whole elsewhere in the collection (see ``wholes``)."""
    motifs = np.array(sorted(first.motif_ids), dtype=np.int64)
    if not len(motifs):
        return [[] for _ in findings]
    per_page_kept = _kept_per_page(findings, first)
    pages_of: dict[int, set[int]] = {int(m): set() for m in motifs}
    for page, (start, kept) in enumerate(per_page_kept):
        for i in kept:
            pages_of[int(first.clustering.labels[start + i])].add(page)
    free = [
        _free_pieces(found, first, start, kept, page_joined)
        for found, (start, kept), page_joined in zip(findings, per_page_kept, joined, strict=True)
    ]
    candidates = [
        candidate_groups(pieces, found.views[index, 0], params)
        for found, (index, pieces) in zip(findings, free, strict=True)
    ]
    unions = [
        [union_of(pieces, group) for group in page_candidates]
        for (_, pieces), page_candidates in zip(free, candidates, strict=True)
    ]
    groups: list[list[list[int]]] = []
    for batch in _batches(range(len(findings)), DESCRIBE_BATCH_PAGES):
        views = _box_views(
            [findings[page] for page in batch], [unions[p] for p in batch], describer
        )
        for page, page_views in zip(batch, views, strict=True):
            # Only a motif found on another page shows the block whole: one found on this
            # page alone may be two of the pieces that segmentation left touching.
            elsewhere = np.array([m for m in motifs if pages_of[int(m)] - {page}], dtype=np.int64)
            if not len(elsewhere) or not len(page_views):
                groups.append([])
                continue
            scores = (page_views @ first.clustering.views[elsewhere, 0].T).max(axis=1)
            best = scores.argmax(axis=1)
            similarity = scores[np.arange(len(best)), best]
            index, pieces = free[page]
            chosen = chosen_wholes(pieces, candidates[page], elsewhere[best], similarity, params)
            groups.append([[index[i] for i in group] for group in chosen])
    return groups


def _free_pieces(
    found: PageFindings,
    first: Discovery,
    start: int,
    kept: list[int],
    joined: list[list[int]],
) -> tuple[list[int], list[Piece]]:
    """The page's kept instances that no group joined yet: their indices on the page, and
    each as a piece."""
    taken = {i for group in joined for i in group}
    index = [i for i in kept if i not in taken]
    labels, orientations = first.clustering.labels, first.clustering.orientations
    pieces = [
        Piece(0, found.boxes[i], int(labels[start + i]), orientations[start + i]) for i in index
    ]
    return index, pieces


def _box_views(
    findings: list[PageFindings],
    boxes: list[list[Box]],
    describer: Describer,
    upright: bool = False,
) -> list[np.ndarray]:
    """(N, 8, D) views of each page's ``boxes``, or with ``upright`` their first views alone,
    (N, D), described in one call for all the pages: ink is computed only for pages that have
    boxes to compare."""
    crops = [
        _crops(ink_map(found.page.pixels), page_boxes, describer.size)
        if page_boxes
        else _no_crops(describer.size)
        for found, page_boxes in zip(findings, boxes, strict=True)
    ]
    if not any(len(c) for c in crops):
        return [np.zeros(0, np.float32) for _ in crops]
    describe = describer.upright if upright else describer.views
    views = describe(np.concatenate(crops))
    return np.split(views, np.cumsum([len(c) for c in crops])[:-1])


def _overlaps_any(box: Box, others: list[Box]) -> bool:
    return not _outside([box], others)


def _outside(boxes: list[Box], occupied: list[Box]) -> list[Box]:
    """``boxes`` that overlap none of ``occupied`` (pieces of a block already found)."""
    if not boxes or not occupied:
        return boxes
    hits = np.asarray(overlapping(np.array(boxes), np.array(occupied)).any(axis=1))
    return [box for box, hit in zip(boxes, hits, strict=True) if not hit]


def _crops(ink: np.ndarray, boxes: list[Box], size: int) -> np.ndarray:
    crops = [template(ink, box, size) for box in boxes]
    return np.stack(crops) if crops else _no_crops(size)


def _no_crops(size: int) -> np.ndarray:
    return np.zeros((0, size, size), dtype=np.float32)


def assemble(
    findings: list[PageFindings],
    params: BaselineParams,
    describer: Describer,
    known: KnownMotifs | None,
) -> Discovery:
    """Group the instances of analysed pages into motifs (the known ones first) and place them:
    the last step of ``discover``, public for a catalogue that matches pages again."""
    empty = np.zeros((0, TEMPLATE_SIZE, TEMPLATE_SIZE), np.float32)
    templates = np.concatenate([empty, *(f.templates for f in findings)])
    views = np.concatenate([f.views for f in findings]) if findings else empty[:, None]
    boxes = [box for f in findings for box in f.boxes]
    fine = FineCrops(
        np.concatenate(
            [np.zeros((0, FINE_SIZE, FINE_SIZE), np.uint8), *(f.fine for f in findings)]
        ),
        np.array([max(box[2:]) for box in boxes], dtype=np.int64),
    )
    clustering = cluster_views(
        templates, views, params.cluster, None if known is None else known.views, fine
    )
    scores = instance_scores(clustering)
    # An impression of a catalogued block needs no second one on these pages to be trusted.
    catalogued = clustering.known[clustering.labels] >= 0
    keep = (scores >= params.min_score) | (
        catalogued & (clustering.similarity >= params.cluster.join)
    )
    keep &= ~_words_of_the_text(findings, boxes, clustering, keep, params.text)
    motif_ids = _motif_ids(np.unique(clustering.labels[keep]), clustering.known, known)
    pages, start = [], 0
    for found in findings:
        index = range(start, start + len(found.boxes))
        kept = [(box, i) for box, i in zip(found.boxes, index, strict=True) if keep[i]]
        pages.append(_page(found.page, kept, clustering, scores, motif_ids, params.segment))
        start += len(found.boxes)
    motifs = _motifs(boxes, keep, clustering, motif_ids)
    decomposition = Decomposition(pages=pages, motifs=motifs, model=describer.name)
    return Discovery(decomposition, findings, clustering, motif_ids, keep)


def _words_of_the_text(
    findings: list[PageFindings],
    boxes: list[Box],
    clustering: Clustering,
    keep: np.ndarray,
    params: TextParams,
) -> np.ndarray:
    """Instances of new motifs that are type: small, standing in lines of text, and never
    twice on one page, or mostly standing apart from every other instance or between letters
    that no instance holds. A printer sets a small sort as one of many, in a band or a frame;
    a small shape that recurs from page to page inside the text, alone or among letters, is
    a word or a letter of it (a lone fleuron between paragraphs stands on a line of its own).
    ``boxes`` are the pages' instances, in order."""
    page_of = _page_of(findings)
    as_array = np.array(boxes, dtype=np.int64).reshape(-1, 4)
    apart = _apart(as_array, page_of, keep)
    instances = [as_array[keep & (page_of == index)] for index in range(len(findings))]
    letters = _free_letters(findings, instances)
    words = np.zeros(len(boxes), dtype=bool)
    for members in grouped(np.flatnonzero(keep), clustering.labels):
        if clustering.known[clustering.labels[members[0]]] >= 0:
            continue
        pages = [findings[page] for page in page_of[members]]
        sizes = [max(boxes[i][2:]) / page.x_height for i, page in zip(members, pages, strict=True)]
        if np.median(sizes) > params.lone_sort_size_in_x_heights:
            continue
        once_a_page = len(np.unique(page_of[members])) == len(members)
        if not (
            once_a_page
            or _mostly_set_as_words(members, apart, letters, boxes, page_of, params)
            or _often_among_letters(members, sizes, (instances, letters), boxes, page_of, params)
        ):
            continue
        in_text = [
            stands_in_a_line(boxes[i], page.strokes, params)
            for i, page in zip(members, pages, strict=True)
        ]
        words[members] = np.mean(in_text) >= params.letter_share
    return words


def _mostly_set_as_words(
    members: np.ndarray,
    apart: np.ndarray,
    letters: list[np.ndarray],
    boxes: list[Box],
    page_of: np.ndarray,
    params: TextParams,
) -> bool:
    """Whether most ``members`` stand apart from every other instance or between letters no
    instance holds, as a word does; a sort set twice side by side has its fellow beside it."""
    as_words = [
        bool(apart[i]) or between_letters(boxes[i], letters[page_of[i]], params) for i in members
    ]
    return bool(np.mean(as_words) >= params.apart_share)


def _often_among_letters(
    members: np.ndarray,
    sizes: list[float],
    page_contents: tuple[list[np.ndarray], list[np.ndarray]],
    boxes: list[Box],
    page_of: np.ndarray,
    params: TextParams,
) -> bool:
    """Whether some ``members`` (``among_letters_share``), as small as letters (``sizes``, long
    sides in x-heights), read among letters no instance holds in their line, as letters cut
    out of words do. ``page_contents`` are, per page, its kept instances and those letters."""
    instances, letters = page_contents
    among = [
        size <= params.letter_size_in_x_heights
        and read_among_letters(boxes[i], instances[page_of[i]], letters[page_of[i]], params)
        for i, size in zip(members, sizes, strict=True)
    ]
    return bool(np.mean(among) >= params.among_letters_share)


def _free_letters(findings: list[PageFindings], instances: list[np.ndarray]) -> list[np.ndarray]:
    """Per page, its letter-sized strokes that none of its kept ``instances`` overlaps."""
    return [
        page.strokes[~overlapping(page.strokes, kept).any(axis=1)]
        for page, kept in zip(findings, instances, strict=True)
    ]


def _apart(boxes: np.ndarray, page_of: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """Mask of the kept instances with no other kept instance of their page nearer than the
    smaller one's size: not set in a band, a frame or a head-piece."""
    apart = np.zeros(len(boxes), dtype=bool)
    for members in grouped(np.flatnonzero(keep), page_of):
        gaps = relative_gaps(boxes[members])
        np.fill_diagonal(gaps, np.inf)
        apart[members] = gaps.min(axis=1, initial=np.inf) > 1.0
    return apart


def _motif_ids(
    kept_motifs: np.ndarray, known_index: np.ndarray, known: KnownMotifs | None
) -> dict[int, str]:
    """Catalogued motifs keep their ids; new ones are numbered after the catalogue's."""
    taken = [] if known is None else known.ids
    numbers = [int(i[1:]) for i in taken if i[1:].isdigit()]
    fresh = (f"m{n:04d}" for n in itertools.count(max(numbers, default=0) + 1))
    return {
        int(k): taken[known_index[k]] if known_index[k] >= 0 else next(fresh) for k in kept_motifs
    }


def _page(
    page: PageImage,
    kept: list[tuple[Box, int]],
    clustering: Clustering,
    scores: np.ndarray,
    motif_ids: dict[int, str],
    params: SegmentParams,
) -> Page:
    height, width = page.pixels.shape[:2]
    ornament_boxes, ornament_of = group_ornaments([box for box, _ in kept], params)
    ornaments = [Ornament(id=f"o{n + 1}", bbox=box) for n, box in enumerate(ornament_boxes)]
    instances = []
    for (box, i), ornament in zip(kept, ornament_of, strict=True):
        orientation = clustering.orientations[i]
        instances.append(
            Instance(
                bbox=box,
                motif=motif_ids[int(clustering.labels[i])],
                score=round(float(scores[i]), 4),
                rotation=orientation.rotation,
                mirror=orientation.mirror,
                ornament=ornaments[ornament].id,
            )
        )
    return Page(page.name, width, height, ornaments, instances)


def _motifs(
    boxes: list[Box], keep: np.ndarray, clustering: Clustering, motif_ids: dict[int, str]
) -> list[Motif]:
    members_of = {
        int(clustering.labels[group[0]]): group
        for group in grouped(np.flatnonzero(keep), clustering.labels)
    }
    motifs = []
    for k, motif_id in motif_ids.items():
        members = members_of[k]
        # Sizes in the prototype frame: a quarter turn swaps width and height.
        sizes = [
            boxes[i][2:][::-1] if clustering.orientations[i].rotation % 180 else boxes[i][2:]
            for i in members
        ]
        width, height = np.median(np.array(sizes), axis=0).astype(int)
        parent = f"g{clustering.parents[k] + 1:04d}"
        motifs.append(Motif(motif_id, int(width), int(height), len(members), parent))
    return motifs
