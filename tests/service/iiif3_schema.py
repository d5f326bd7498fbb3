"""A JSON Schema for the parts of IIIF Presentation 3 that Florilege writes.

Written from the Presentation 3.0 specification (sections 3-5) and the Web Annotation model,
because the licence of the official schema (IIIF presentation-validator, schema/iiif_3_0.json)
could not be confirmed from the sources available here. It checks what the specification
requires of each resource we emit: ids are http(s) URIs, types are the right literals, labels
are language maps, dimensions are positive integers, annotation pages hold annotations, and an
annotation's target is a canvas id with an optional ``#xywh=`` fragment of integers.
"""

from __future__ import annotations

from typing import Any

HTTP_ID = {"type": "string", "pattern": "^https?://[^\\s]+$"}
LANGUAGE_MAP = {
    "type": "object",
    "minProperties": 1,
    "patternProperties": {"^([a-zA-Z-]+|none)$": {"type": "array", "items": {"type": "string"}}},
    "additionalProperties": False,
}
DIMENSION = {"type": "integer", "exclusiveMinimum": 0}
CONTEXT_3 = "http://iiif.io/api/presentation/3/context.json"

SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$defs": {
        "agent": {
            "type": "object",
            "required": ["id", "type"],
            "properties": {
                "id": HTTP_ID,
                "type": {"enum": ["Software", "Agent"]},
                "name": {"type": "string"},
            },
        },
        "textualBody": {
            "type": "object",
            "required": ["type", "value"],
            "properties": {
                "type": {"const": "TextualBody"},
                "value": {"type": "string", "minLength": 1},
                "format": {"type": "string", "pattern": "^[a-z]+/[a-z0-9.+-]+$"},
                "language": {"type": "string"},
                "purpose": {
                    "enum": [
                        "commenting",
                        "tagging",
                        "describing",
                        "classifying",
                        "identifying",
                        "linking",
                    ]
                },
            },
        },
        "service": {  # v3 services use id/type; older ones keep @id/@type (spec 3.0 s. 3.3.4)
            "type": "object",
            "properties": {"profile": {"type": "string"}},
            "anyOf": [
                {
                    "required": ["id", "type"],
                    "properties": {"id": HTTP_ID, "type": {"const": "ImageService3"}},
                },
                {
                    "required": ["@id", "@type"],
                    "properties": {"@id": HTTP_ID, "@type": {"const": "ImageService2"}},
                },
            ],
        },
        "image": {
            "type": "object",
            "required": ["id", "type"],
            "properties": {
                "id": HTTP_ID,
                "type": {"const": "Image"},
                "format": {"const": "image/jpeg"},
                "width": DIMENSION,
                "height": DIMENSION,
                "service": {"type": "array", "items": {"$ref": "#/$defs/service"}},
            },
        },
        "target": {"type": "string", "pattern": "^https?://[^\\s#]+(#xywh=\\d+,\\d+,\\d+,\\d+)?$"},
        "annotation": {
            "type": "object",
            "required": ["id", "type", "motivation", "target", "body"],
            "properties": {
                "id": HTTP_ID,
                "type": {"const": "Annotation"},
                "motivation": {"enum": ["painting", "commenting", "tagging"]},
                "target": {"$ref": "#/$defs/target"},
                "creator": {"$ref": "#/$defs/agent"},
                "generator": {"$ref": "#/$defs/agent"},
                "body": {
                    "anyOf": [
                        {"$ref": "#/$defs/image"},
                        {"$ref": "#/$defs/textualBody"},
                        {"type": "array", "minItems": 1, "items": {"$ref": "#/$defs/textualBody"}},
                    ]
                },
            },
        },
        "annotationPage": {
            "type": "object",
            "required": ["id", "type"],
            "properties": {
                "@context": {"const": CONTEXT_3},
                "id": HTTP_ID,
                "type": {"const": "AnnotationPage"},
                "items": {"type": "array", "items": {"$ref": "#/$defs/annotation"}},
            },
        },
        "annotationPageRef": {
            "type": "object",
            "required": ["id", "type"],
            "properties": {"id": HTTP_ID, "type": {"const": "AnnotationPage"}},
            "not": {"required": ["items"]},
        },
        "canvas": {
            "type": "object",
            "required": ["id", "type", "width", "height"],
            "properties": {
                "id": HTTP_ID,
                "type": {"const": "Canvas"},
                "label": LANGUAGE_MAP,
                "width": DIMENSION,
                "height": DIMENSION,
                "items": {"type": "array", "items": {"$ref": "#/$defs/annotationPage"}},
                "annotations": {
                    "type": "array",
                    "items": {
                        "anyOf": [
                            {"$ref": "#/$defs/annotationPageRef"},
                            {"$ref": "#/$defs/annotationPage"},
                        ]
                    },
                },
            },
        },
        "manifest": {
            "type": "object",
            "required": ["@context", "id", "type", "label", "items"],
            "properties": {
                "@context": {
                    "anyOf": [
                        {"const": CONTEXT_3},
                        {"type": "array", "contains": {"const": CONTEXT_3}},
                    ]
                },
                "id": HTTP_ID,
                "type": {"const": "Manifest"},
                "label": LANGUAGE_MAP,
                "summary": LANGUAGE_MAP,
                "items": {"type": "array", "minItems": 1, "items": {"$ref": "#/$defs/canvas"}},
            },
        },
    },
}


def schema_for(definition: str) -> dict[str, Any]:
    return {**SCHEMA, "$ref": f"#/$defs/{definition}"}
