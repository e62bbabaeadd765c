"""The vendor's grants file: the desired state of one instance, validated before it is sealed."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

import msgspec
import yaml

from lls.domain.pools import LICENSE_ID
from lls.errors import BadRequest
from lls.protocol.shapes import Contact, FeatureGrant
from lls.sealed.payloads import LicenseGrant, Misuse, Org

DEFAULT_VALID_DAYS = 365


class Grants(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """What the vendor grants one instance, in the pool's own field names (design.md)."""

    org: Org
    licenses: list[LicenseGrant]
    validDays: Annotated[int, msgspec.Meta(ge=1, le=3650)] = DEFAULT_VALID_DAYS


# On the wire unknown fields are ignored (newer writers stay readable); in a file
# a person typed, an unknown field is a typo that would silently drop a grant.
_NESTED: dict[str, type[msgspec.Struct]] = {
    "org": Org,
    "contact": Contact,
    "misuse": Misuse,
}
_PATH = re.compile(r" - at `\$\.?(?P<path>[^`]*)`$")
_MISSING = re.compile(r"missing required field `(?P<name>[^`]+)`")


# libyaml's safe loader when PyYAML was built with it: 3-4x faster on a 50,000-license file.
_SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load_grants_file(path: Path) -> dict[str, Any]:
    """Read a grants YAML file into plain data (no validation yet)."""
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_SAFE_LOADER)  # noqa: S506
    except OSError as exc:
        raise BadRequest(f"cannot read grants file {path}: {exc.strerror or exc}") from exc
    except yaml.YAMLError as exc:
        raise BadRequest(f"grants file {path} is not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise BadRequest(f"grants file {path} must be a mapping with org and licenses")
    return data


def parse_grants(data: Mapping[str, Any]) -> Grants:
    """Validate grants; every refusal names the offending field (e.g. `licenses[2].seats`)."""
    plain = _plain(dict(data))
    _refuse_unknown(plain, Grants, "")
    try:
        grants = msgspec.convert(plain, type=Grants)
    except msgspec.ValidationError as exc:
        raise BadRequest(f"invalid grants: {exc}", field=_field_of(str(exc))) from exc
    _check_rules(grants)
    return grants


def _field_of(message: str) -> str | None:
    """The dotted field a msgspec message names (`$.licenses[0].seats` → `licenses[0].seats`)."""
    at = _PATH.search(message)
    path = at.group("path") if at else ""
    missing = _MISSING.search(message)
    if missing:
        path = f"{path}.{missing.group('name')}" if path else missing.group("name")
    return path or None


def _plain(value: Any) -> Any:
    """YAML turns unquoted timestamps into datetimes; the pool carries RFC 3339 strings."""
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    if isinstance(value, dt.datetime):
        aware = value if value.tzinfo else value.replace(tzinfo=dt.UTC)
        return aware.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    if isinstance(value, dt.date):
        return f"{value.isoformat()}T00:00:00Z"
    return value


def _refuse_unknown(value: Any, schema: type[msgspec.Struct], where: str) -> None:
    if not isinstance(value, dict):
        return  # msgspec.convert reports the wrong type with its path
    known = set(schema.__struct_encode_fields__)  # the wire names (Contact renames)
    for key, item in value.items():
        path = f"{where}.{key}" if where else str(key)
        if key not in known:
            raise BadRequest(f"invalid grants: unknown field `{path}`", field=path)
        nested = _NESTED.get(key)
        if nested is not None:
            _refuse_unknown(item, nested, path)
        elif key in ("licenses", "features") and isinstance(item, list):
            element = LicenseGrant if key == "licenses" else FeatureGrant
            for index, entry in enumerate(item):
                _refuse_unknown(entry, element, f"{path}[{index}]")


def _check_rules(grants: Grants) -> None:
    """Rules the schema cannot say: unique tokens and ids, counts where needed, sane dates."""
    seen: set[str] = set()
    ids: dict[str, str] = {}
    for i, lic in enumerate(grants.licenses):
        at = f"licenses[{i}]"
        if lic.token in seen:
            raise BadRequest(
                f"invalid grants: license token {lic.token} appears twice", field=f"{at}.token"
            )
        seen.add(lic.token)
        _check_id(lic.id, at, ids)
        if lic.type == "temporary" and lic.temporaryDays is None:
            raise BadRequest(
                f"invalid grants: temporary license {lic.token} needs temporaryDays",
                field=f"{at}.temporaryDays",
            )
        bounds = [
            _time(value, f"{at}.{name}")
            for name, value in (("validFrom", lic.validFrom), ("validUntil", lic.validUntil))
        ]
        if bounds[0] is not None and bounds[1] is not None and bounds[0] >= bounds[1]:
            raise BadRequest(
                f"invalid grants: license {lic.token} ends before it starts",
                field=f"{at}.validUntil",
            )
        codes: set[str] = set()
        for j, feature in enumerate(lic.features):
            where = f"{at}.features[{j}]"
            if feature.code in codes:
                raise BadRequest(
                    f"invalid grants: feature {feature.code} appears twice in license {lic.token}",
                    field=f"{where}.code",
                )
            codes.add(feature.code)
            if feature.type != "boolean" and feature.count is None:
                raise BadRequest(
                    f"invalid grants: {feature.type} feature {feature.code} needs a count",
                    field=f"{where}.count",
                )


def _check_id(license_id: str | None, at: str, seen: dict[str, str]) -> None:
    """A license id is optional, well-formed and unique (sync-format §2)."""
    if license_id is None:
        return
    if not LICENSE_ID.fullmatch(license_id):
        raise BadRequest(
            f"invalid grants: license id {license_id!r} must be 1-64 characters of"
            " A-Z, a-z, 0-9, '.', '_' or '-'",
            field=f"{at}.id",
        )
    if license_id in seen:
        raise BadRequest(
            f"invalid grants: license id {license_id!r} is given to {seen[license_id]} too",
            field=f"{at}.id",
        )
    seen[license_id] = at


def _time(value: str | None, field: str) -> dt.datetime | None:
    if value is None:
        return None
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        parsed = None
    if parsed is None or parsed.tzinfo is None:
        raise BadRequest(
            f"invalid grants: `{field}` is not an RFC 3339 time with a zone: {value!r}", field=field
        )
    return parsed
