"""The vendor's central-side reference tooling: register instances, issue pools, read usage.

Run as `lls vendor …` (lls.cli.vendor); the modules are chain (the usage chain's
checks), grants (the grants file), state (the workspace's records), usage (reading
usage files) and workspace (keys, instances, issuing)."""

from __future__ import annotations

from lls.central.grants import load_grants_file, parse_grants
from lls.central.usage import UsageFlagged, UsageSummary
from lls.central.workspace import VendorWorkspace

__all__ = [
    "UsageFlagged",
    "UsageSummary",
    "VendorWorkspace",
    "load_grants_file",
    "parse_grants",
]
