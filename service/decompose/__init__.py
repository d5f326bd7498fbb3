"""Unsupervised decomposition of page images into vignette instances grouped into motifs.

This is the classical baseline (no learned weights): ink segmentation, components grouped into
instances, dihedral-aligned template descriptors, and clustering into an unknown number of
motifs. Learned models must beat it on the benchmark (docs/benchmarks.md).
"""

from service.decompose.pipeline import PageImage as PageImage
from service.decompose.pipeline import PageReadError as PageReadError
from service.decompose.pipeline import decompose_images as decompose_images
from service.decompose.pipeline import decompose_paths as decompose_paths
from service.decompose.pipeline import read_page as read_page
