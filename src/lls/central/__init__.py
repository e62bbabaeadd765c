"""The vendor's central-side reference tooling: register instances, issue pools, read usage."""

from __future__ import annotations

from lls.central.chain import UsageProblem, Verdict
from lls.central.grants import Grants, load_grants_file, parse_grants
from lls.central.state import InstanceRecord, UsageFileRecord, VendorState
from lls.central.usage import USAGE_CHECKS, UsageFlagged, UsageSummary
from lls.central.workspace import DEFAULT_VENDOR_ID, VendorWorkspace

__all__ = [
    "DEFAULT_VENDOR_ID",
    "USAGE_CHECKS",
    "Grants",
    "InstanceRecord",
    "UsageFileRecord",
    "UsageFlagged",
    "UsageProblem",
    "UsageSummary",
    "VendorState",
    "VendorWorkspace",
    "Verdict",
    "load_grants_file",
    "parse_grants",
]
