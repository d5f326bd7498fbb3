"""Clustering instances, given as eight dihedral views, into motifs (decompose/cluster.py)."""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from service.decompose.cluster import (
    PERMUTE,
    ClusterParams,
    FineCrops,
    _shapes,
    _two_shapes,
    cluster_views,
    grouped,
    judging,
)
from service.decompose.describe import dihedral_similarity, dihedral_views, normalise
from service.dihedral import ALL_ORIENTATIONS, inverse, orient


def _block(seed: int) -> np.ndarray:
    """A smooth asymmetric blob image, unlike its own turns and mirrors."""
    noise = np.random.default_rng(seed).random((24, 24))
    return ndimage.gaussian_filter(noise, 2.0).astype(np.float32)


def test_instances_group_by_block_and_turn_back_onto_one_prototype():
    rng = np.random.default_rng(0)
    clean, block_of = [], []
    for block_id, block in enumerate([_block(1), _block(2)]):
        for orientation in ALL_ORIENTATIONS:
            clean.append(orient(block, orientation))
            block_of.append(block_id)
    noisy = np.stack(clean) + rng.normal(0, 0.002, (len(clean), 24, 24)).astype(np.float32)
    found = cluster_views(noisy, dihedral_views(noisy, blur=0), ClusterParams(join=0.9, merge=0.95))

    labels = found.labels.tolist()
    assert labels[:8] == [labels[0]] * 8 and labels[8:] == [labels[8]] * 8
    assert labels[0] != labels[8]
    for first in (0, 8):
        # The reported orientation o says instance = orient(prototype, o): undoing it must give
        # the same picture for every instance of a motif.
        upright = [
            orient(clean[i], inverse(found.orientations[i])) for i in range(first, first + 8)
        ]
        for picture in upright[1:]:
            np.testing.assert_array_equal(picture, upright[0])
    assert found.similarity.min() > 0.9


def test_a_prototype_view_set_is_a_permutation_of_its_instance_views():
    """If orient(x, O_v) is the prototype, the prototype's views are x's views permuted by
    PERMUTE[v]: what lets aligned members be averaged into all eight prototype views."""
    x = _block(3)
    views = dihedral_views(x[None], blur=0)[0]
    for v, orientation in enumerate(ALL_ORIENTATIONS):
        prototype_views = dihedral_views(orient(x, orientation)[None], blur=0)[0]
        np.testing.assert_allclose(views[PERMUTE[v]], prototype_views, atol=1e-6)


def _flower(petals: int, seed: int) -> np.ndarray:
    """A 64 px flower of ``petals`` petals, lightly worn (random specks of ink lost)."""
    y, x = np.mgrid[-32:32, -32:32] + 0.5
    radius, angle = np.hypot(x, y), np.arctan2(y, x)
    flower = (radius < 28 * (0.6 + 0.4 * np.cos(petals * angle))) | (radius < 6)
    worn = np.random.default_rng(seed).random((64, 64)) < 0.05
    return (flower & ~worn).astype(np.uint8) * 255


def _one_coarse_motif(fine: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Templates and views that cannot tell the instances apart: the coarse descriptor of
    flowers whose petals it does not resolve."""
    blob = np.broadcast_to(_block(4), (len(fine), 24, 24)).copy()
    return blob, dihedral_views(blob, blur=0)


def _printed(crops: np.ndarray, side: int = 64) -> FineCrops:
    """Fine crops of instances all printed ``side`` pixels long."""
    return FineCrops(crops, np.full(len(crops), side))


def _flowers(*petal_counts: int, each: int = 6) -> np.ndarray:
    return np.stack([_flower(petals, seed) for petals in petal_counts for seed in range(each)])


def test_a_motif_whose_fine_crops_hold_two_shapes_is_split_in_two():
    fine = _flowers(6, 8)
    templates, views = _one_coarse_motif(fine)

    assert len(set(cluster_views(templates, views).labels)) == 1
    found = cluster_views(templates, views, fine=_printed(fine))

    labels = found.labels.tolist()
    assert labels[:6] == [labels[0]] * 6 and labels[6:] == [labels[6]] * 6
    assert labels[0] != labels[6]
    assert len(found.views) == 2 and found.similarity.min() > 0.99


def test_a_motif_holding_three_shapes_is_split_into_three():
    fine = _flowers(5, 6, 8)
    templates, views = _one_coarse_motif(fine)

    labels = cluster_views(templates, views, fine=_printed(fine)).labels.reshape(3, 6)

    assert all(len(set(row)) == 1 for row in labels.tolist())
    assert len(set(labels[:, 0].tolist())) == 3


def test_a_motif_holding_nine_shapes_is_split_into_nine():
    # A coarse motif may hold many alike designs (flowers of four to twelve petals): more
    # than the eight parts three rounds of halving can give.
    fine = _flowers(4, 5, 6, 7, 8, 9, 10, 11, 12)
    templates, views = _one_coarse_motif(fine)

    labels = cluster_views(templates, views, fine=_printed(fine)).labels.reshape(9, 6)

    assert all(len(set(row)) == 1 for row in labels.tolist())
    assert len(set(labels[:, 0].tolist())) == 9


def test_a_split_judged_on_a_sample_of_a_large_motif_places_every_member():
    fine = _flowers(6, 8, each=10)
    templates, views = _one_coarse_motif(fine)

    found = cluster_views(templates, views, ClusterParams(split_judges=8), fine=_printed(fine))

    labels = found.labels.tolist()
    assert labels[:10] == [labels[0]] * 10 and labels[10:] == [labels[10]] * 10
    assert labels[0] != labels[10]


def test_worn_impressions_of_one_shape_are_not_split():
    fine = _flowers(6, each=12)
    fine[6:] = (fine[6:] * 0.6).astype(np.uint8)  # six of them printed paler
    templates, views = _one_coarse_motif(fine)

    assert len(set(cluster_views(templates, views, fine=_printed(fine)).labels)) == 1


def _swash(seed: int) -> np.ndarray:
    """A thin 64 px wave of ink two pixels thick, lightly worn."""
    y, x = np.mgrid[0:64, 0:64] + 0.5
    line = np.abs(y - (32 + 6 * np.sin(x / 8))) < 1.2
    worn = np.random.default_rng(seed).random((64, 64)) < 0.05
    return (line & ~worn).astype(np.uint8) * 255


def test_impressions_a_pixel_apart_are_not_split():
    # A box rounded one way or the other moves a thin shape by a pixel in its crop; unshifted,
    # the two sets of crops would read as two shapes.
    fine = np.stack([_swash(seed) for seed in range(12)])
    fine[6:] = np.roll(fine[6:], 1, axis=1)
    templates, views = _one_coarse_motif(fine)
    unshifted = ClusterParams(split_shift=0)

    assert len(set(cluster_views(templates, views, unshifted, fine=_printed(fine)).labels)) == 2
    assert len(set(cluster_views(templates, views, fine=_printed(fine)).labels)) == 1


def test_small_impressions_do_not_decide_a_split():
    # Half the impressions were printed 20 px long: their crops, scaled up to 64 px, are
    # blurred, which is no difference of design. With them judged as sharp, blur alone would
    # have split the motif.
    fine = _flowers(6, each=12)
    fine[6:] = ndimage.gaussian_filter(fine[6:].astype(np.float32), (0, 2.5, 2.5)).astype(np.uint8)
    templates, views = _one_coarse_motif(fine)
    sides = np.array([64] * 6 + [20] * 6)

    assert len(set(cluster_views(templates, views, fine=_printed(fine)).labels)) == 2
    assert len(set(cluster_views(templates, views, fine=FineCrops(fine, sides)).labels)) == 1


def test_a_catalogued_motif_is_never_split():
    # The catalogue's motif keeps its identity: a collection matched against it must not see
    # it broken in two, whatever the fine crops of its impressions show.
    fine = _flowers(6, 8)
    templates, views = _one_coarse_motif(fine)

    found = cluster_views(templates, views, known=views[:1], fine=_printed(fine))

    assert set(found.labels.tolist()) == {0}
    assert found.known.tolist() == [0]


def _two_coarse_motifs(each: int) -> tuple[np.ndarray, np.ndarray]:
    """Templates and views of two coarse motifs of ``each`` instances, alike (0.77) but too
    little to be joined or merged: what the small impressions of one block can look like."""
    first = _block(4)
    blobs = np.stack([first] * each + [first + 0.9 * _block(5)] * each)
    views = dihedral_views(blobs, blur=0)
    assert 0.75 < dihedral_similarity(views[[0, each]])[0, 1] < ClusterParams().join
    return blobs, views


def test_two_alike_motifs_whose_fine_crops_are_one_shape_are_joined_again() -> None:
    templates, views = _two_coarse_motifs(6)
    fine = _printed(_flowers(6, each=12))

    assert len(set(cluster_views(templates, views, fine=fine).labels)) == 1
    apart = cluster_views(templates, views, ClusterParams(rejoin=1.0), fine=fine)
    assert apart.labels.tolist() == [0] * 6 + [1] * 6


def test_two_alike_motifs_of_different_fine_shapes_stay_apart() -> None:
    templates, views = _two_coarse_motifs(6)

    found = cluster_views(templates, views, fine=_printed(_flowers(6, 8)))

    assert found.labels.tolist() == [0] * 6 + [1] * 6


def test_two_alike_motifs_printed_too_small_to_judge_stay_apart() -> None:
    templates, views = _two_coarse_motifs(6)

    found = cluster_views(templates, views, fine=_printed(_flowers(6, each=12), side=20))

    assert found.labels.tolist() == [0] * 6 + [1] * 6


def test_instances_are_grouped_by_key_in_their_order() -> None:
    keys = np.array([2, 0, 2, 1, 0, 2])

    groups = grouped(np.array([0, 1, 2, 4, 5]), keys)

    assert [group.tolist() for group in groups] == [[1, 4], [0, 2, 5]]


def test_one_impression_more_changes_one_judge_of_a_large_motif_at_most() -> None:
    rng = np.random.default_rng(0)
    keys = rng.integers(0, 2**32, 400)
    decisive = rng.random(400) < 0.8
    judges = judging(decisive, keys, 64)
    # The same impressions, and one more: an instance added to the collection.
    more = judging(np.append(decisive, True), np.append(keys, 12345), 64)

    assert len(judges) == len(more) == 64
    assert decisive[judges].all()
    assert len(set(judges.tolist()) ^ set(more.tolist())) <= 2
    assert judging(decisive, keys, 400).tolist() == np.flatnonzero(decisive).tolist()


def _arc_of_shapes(angles: tuple[float, ...], each: int = 8) -> np.ndarray:
    """(N, D) unit crops of shapes set along one arc, ``each`` noisy impressions apiece: the
    first two much alike, the last two much alike, and the pairs further apart."""
    rng = np.random.default_rng(0)
    basis = np.linalg.qr(rng.normal(size=(256, 2)))[0].T
    crops = [
        np.cos(angle) * basis[0] + np.sin(angle) * basis[1] + 0.003 * rng.normal(size=256)
        for angle in angles
        for _ in range(each)
    ]
    return normalise(np.stack(crops))


def test_four_shapes_two_and_two_are_split_though_the_pairs_seem_close() -> None:
    # Four alike stars: cut in two, each half holds two shapes, spread wide along the line
    # between the halves, so the halves seem less apart than the split needs.
    crops = _arc_of_shapes((0.0, 0.35, 0.8, 1.15))
    params = ClusterParams()
    assert _two_shapes(crops, params, deeper=False) is None

    parts = _shapes(crops, np.ones(len(crops), bool), np.arange(len(crops)), params, 3)

    assert [len(set(shape)) for shape in parts.reshape(4, 8).tolist()] == [1] * 4
    assert len(set(parts.tolist())) == 4
