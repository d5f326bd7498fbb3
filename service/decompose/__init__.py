"""Unsupervised decomposition of page images into vignette instances grouped into motifs.

Ink segmentation, components grouped into instances, a descriptor of each instance under the
eight orientations (template pixels by default, or a model bundle's learned embedding), and
clustering into an unknown number of motifs. With templates this is the training-free
baseline that learned models must beat (docs/benchmarks.md).
"""

from service.decompose.describe import Describer as Describer
from service.decompose.describe import describer_for as describer_for
from service.decompose.pipeline import PageImage as PageImage
from service.decompose.pipeline import PageReadError as PageReadError
from service.decompose.pipeline import decompose_images as decompose_images
from service.decompose.pipeline import decompose_paths as decompose_paths
from service.decompose.pipeline import read_page as read_page
