"""HTTP faces of the service, one blueprint each: jobs, IIIF, motifs, viewer and operations."""
