"""The value shapes a ValidationResponse carries, and the bounds of request strings.

One definition serves every side: the pool reader decodes `Contact` from a pool
file, the licensing rules hold it and `FeatureInfo` in their outcomes, the HTTP
layer encodes both into answers, the offline codec seals them into tokens, and
the client SDK decodes them. Attribute names are snake_case, wire names camelCase;
no field is left out when encoding (`null` stays `null`), unknown ones are ignored
when decoding. Positional construction follows the declaration order.
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec

__all__ = ["Code", "Contact", "Count", "FeatureInfo", "Jwks", "Token"]

Code = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
Token = Annotated[str, msgspec.Meta(min_length=1, max_length=128)]
Count = Annotated[int, msgspec.Meta(ge=0, le=1_000_000_000)]


class Contact(msgspec.Struct, frozen=True, rename="camel"):
    """The license holder's contact (`contact` of api.md §2; `contact` of a pool's license)."""

    first_name: str | None = None
    last_name: str | None = None
    email: str | None = None


class FeatureInfo(msgspec.Struct, frozen=True, rename="camel"):
    """A feature as a ValidationResponse lists it: its units in total and left (None: boolean)."""

    code: str
    type: str  # boolean | floating | consumption
    total: int | None = None
    available: int | None = None


class Jwks(msgspec.Struct, frozen=True):
    """A JSON Web Key Set, `{"keys": [...]}` (the keys themselves are read by lls.sealed)."""

    keys: list[dict[str, Any]]
