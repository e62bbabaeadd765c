"""A client of the vendor's online Licensing API, written from its public pages alone.

It uses only the standard library (urllib, json) and only what the vendor's
"Licensing API integration guide" and "Session-based licensing" pages say:
the request body `{licenseToken, productCodes, authContext}`, the answer
`{isTrial, contact, productCode, authStatus, companyName}` in that order, the
error `{"error": …}`, authStatus Success / Failed / Locked. Nothing of LLS is
imported: this is what an existing application already does, and pointing it
at an LLS on the LAN instead of the vendor's URL must change nothing.

    python examples/vendor_client.py URL LICENSE PRODUCT [--auth-context ID] [--strict]

It validates, activates, extends and deactivates, checks every answer the way
a careful third-party client would, prints one line per call and exits 0 when
all of them held, 1 (naming the check) otherwise. Without --auth-context it
sends none ("recommended", not required, on the session calls). --strict
refuses any member the vendor does not document, as generated clients do.
"""

from __future__ import annotations

import argparse
import json
import sys
import urllib.error
import urllib.request
from typing import Any

# The online API's answer members, in the order of its examples.
VENDOR_FIELDS = ("isTrial", "contact", "productCode", "authStatus", "companyName")
CONTACT_FIELDS = ("firstName", "lastName", "email")
AUTH_STATUSES = ("Success", "Failed", "Locked")


class Mismatch(Exception):
    """An answer that a client written against the vendor's pages would trip over."""


def post(base: str, endpoint: str, body: dict[str, Any]) -> tuple[int, bytes]:
    """POST a JSON body to /licensing/<endpoint>; the status and the raw answer."""
    request = urllib.request.Request(  # noqa: S310 (main() allows http and https only)
        f"{base.rstrip('/')}/licensing/{endpoint}",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:  # noqa: S310 (as above)
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def check_answer(raw: bytes, *, strict: bool) -> dict[str, Any]:
    """The checks a client of the documented ValidationResponse relies on."""
    try:
        doc = json.loads(raw)
    except ValueError:
        raise Mismatch(f"the answer is not JSON: {raw[:80]!r}") from None
    if not isinstance(doc, dict):
        raise Mismatch("the answer is not a JSON object")
    keys = list(doc)
    if tuple(keys[: len(VENDOR_FIELDS)]) != VENDOR_FIELDS:
        raise Mismatch(f"members are not the documented ones in order: {keys}")
    if strict and len(keys) != len(VENDOR_FIELDS):
        raise Mismatch(f"undocumented members: {keys[len(VENDOR_FIELDS) :]}")
    if not isinstance(doc["isTrial"], bool):
        raise Mismatch("isTrial is not a boolean")
    contact = doc["contact"]
    if not isinstance(contact, dict) or tuple(contact) != CONTACT_FIELDS:
        raise Mismatch(f"contact is not an object of {CONTACT_FIELDS}: {contact!r}")
    if doc["authStatus"] not in AUTH_STATUSES:
        raise Mismatch(f"authStatus {doc['authStatus']!r} is not one of {AUTH_STATUSES}")
    for name in ("productCode", "companyName"):
        if doc[name] is not None and not isinstance(doc[name], str):
            raise Mismatch(f"{name} is not a string")
    return doc


def expect_success(endpoint: str, status: int, raw: bytes, *, strict: bool) -> dict[str, Any]:
    if status != 200:
        raise Mismatch(f"{endpoint}: HTTP {status}, not 200: {raw[:120]!r}")
    doc = check_answer(raw, strict=strict)
    if doc["authStatus"] != "Success":
        raise Mismatch(f"{endpoint}: authStatus {doc['authStatus']}, not Success")
    name = " ".join(p for p in (doc["contact"]["firstName"], doc["contact"]["lastName"]) if p)
    print(f"{endpoint}: Success, {doc['productCode']} for {doc['companyName']} ({name or '-'})")
    return doc


def run(base: str, token: str, product: str, auth_context: str | None, *, strict: bool) -> None:
    """The calls an application makes over one use of its license, each answer checked."""
    body: dict[str, Any] = {"licenseToken": token, "productCodes": [product]}
    if auth_context is not None:
        body["authContext"] = auth_context
    expect_success("validate", *post(base, "validate", body), strict=strict)
    expect_success("activate", *post(base, "activate", body), strict=strict)
    expect_success("extend", *post(base, "extend", body), strict=strict)
    status, raw = post(base, "deactivate", body)
    if status == 200:  # the pages show no deactivate answer: accept an answer or none
        expect_success("deactivate", status, raw, strict=strict)
    elif status == 204:
        print("deactivate: done")
    else:
        raise Mismatch(f"deactivate: HTTP {status}: {raw[:120]!r}")
    # The documented refusals: an unknown token, and a body without the token.
    status, raw = post(base, "validate", {"licenseToken": token + "-UNKNOWN"})
    doc = check_answer(raw, strict=strict) if status == 200 else {}
    if doc.get("authStatus") != "Failed":
        raise Mismatch(f"an unknown token is not answered Failed: HTTP {status} {raw[:120]!r}")
    print("validate of an unknown token: Failed")
    status, raw = post(base, "validate", {"productCodes": [product]})
    try:
        error = json.loads(raw)
    except ValueError:
        error = None
    if status != 400 or not isinstance(error, dict) or not isinstance(error.get("error"), str):
        raise Mismatch(f"a missing token is not 400 {{'error': …}}: HTTP {status} {raw[:120]!r}")
    if strict and list(error) != ["error"]:
        raise Mismatch(f"undocumented members in the error: {list(error)}")
    print(f"validate without a token: 400 {error['error']!r}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("url", help="the Licensing API's base URL (vendor or LLS)")
    parser.add_argument("license", help="the license token")
    parser.add_argument("product", help="the product code to check")
    parser.add_argument("--auth-context", help="this device's id (default: send none)")
    parser.add_argument("--strict", action="store_true", help="refuse undocumented members")
    args = parser.parse_args(argv)
    if not args.url.startswith(("http://", "https://")):
        parser.error("the URL must start with http:// or https://")
    try:
        run(args.url, args.license, args.product, args.auth_context, strict=args.strict)
    except Mismatch as mismatch:
        print(f"mismatch: {mismatch}", file=sys.stderr)
        return 1
    except OSError as error:
        print(f"cannot reach {args.url}: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
