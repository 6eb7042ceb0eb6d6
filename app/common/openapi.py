"""Keywords of a whole request body that marshmallow fields cannot carry into the OpenAPI
document: "one of these fields", "at least one field". The services enforce the rules;
this states them in the document, so clients and schemathesis know them too."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

# Component name (apiflask names a schema's component after its class) -> keywords.
SCHEMA_KEYWORDS: dict[str, dict[str, Any]] = {}


def schema_keywords(**keywords: Any) -> Callable[[type], type]:
    """Class decorator: merge ``keywords`` into this schema's component of the document."""

    def register(cls: type) -> type:
        SCHEMA_KEYWORDS[cls.__name__] = keywords
        return cls

    return register


def apply_schema_keywords(spec: dict[str, Any]) -> None:
    components = spec.get("components", {}).get("schemas", {})
    for name, keywords in SCHEMA_KEYWORDS.items():
        if name in components:
            components[name].update(keywords)
