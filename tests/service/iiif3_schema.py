"""Validation of the IIIF Presentation 3 documents Florilege writes.

The official schema (IIIF/presentation-validator, ``schema/iiif_3_0.json``) is not vendored:
that repository carries no licence. It has no LICENSE file in any stored version, no
``license`` in its ``setup.py`` or ``pyproject.toml``, and no licence statement in its README
(checked on 2026-11-25); the only licence file it holds, ``assets/LICENCE.md``, covers a
spinner GIF. Without a grant, copying the schema into an MIT project is not allowed. So each
document is checked twice:

1. against iiif-prezi3's models (Apache-2.0, installed), which iiif-prezi3 generates from that
   official schema (its skeleton is regenerated with datamodel-codegen from
   ``iiif_3_0.json``). The document must load, and writing it back must give the same JSON,
   so that nothing was coerced or dropped on the way;
2. against the local schema below, written from the Presentation 3.0 specification (sections
   3-5) and the Web Annotation model, for what those models let through: they turn a plain
   string label into a language map, accept any string as a target or an id, and any agent
   type. Here ids must be http(s) URIs, labels language maps, dimensions positive integers,
   targets a canvas id with an optional ``#xywh=`` fragment of integers, and the generator a
   ``Software`` agent.
"""

from __future__ import annotations

from typing import Any

import jsonschema
from iiif_prezi3 import skeleton

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


MODELS = {"manifest": skeleton.Manifest, "annotationPage": skeleton.AnnotationPage}


def _same(written: Any, read_back: Any) -> bool:
    """``read_back`` equals ``written`` but for empty lists iiif-prezi3 adds as defaults (the
    ``items`` of an AnnotationPage given by reference)."""
    if isinstance(written, dict) and isinstance(read_back, dict):
        extra = read_back.keys() - written.keys()
        return all(read_back[k] == [] for k in extra) and all(
            k in read_back and _same(v, read_back[k]) for k, v in written.items()
        )
    if isinstance(written, list) and isinstance(read_back, list):
        return len(written) == len(read_back) and all(map(_same, written, read_back))
    return bool(written == read_back)


def assert_valid_v3(doc: dict[str, Any], definition: str) -> None:
    """Raise unless ``doc`` is a valid ``definition`` ("manifest" or "annotationPage")."""
    model = MODELS[definition].model_validate(doc)
    read_back = model.model_dump(exclude_none=True, by_alias=True, mode="json")
    assert _same(doc, read_back), f"iiif-prezi3 changed the {definition} on reading it"
    jsonschema.validate(doc, schema_for(definition))
