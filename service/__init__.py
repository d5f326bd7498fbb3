"""Florilege service: find composite ornaments in page images and decompose them into motifs.

This package never imports torch: inference runs on numpy and onnxruntime only.
"""

__version__ = "0.1.0"
