"""IIIF in and out: manifests and collections read, page images fetched at the right size,
annotations and motif manifests written."""
