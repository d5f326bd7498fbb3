"""Harvesting whole IIIF sources: collections, lists of manifests, Change Discovery streams."""
