"""The audit chain's canonical JSON is what any JSON library produces with sorted keys.

Event data holds no floats (times are RFC 3339 strings): float formatting is
where JSON libraries disagree, and the vendor must be able to recompute hashes.
"""

from __future__ import annotations

import hashlib
import json

from hypothesis import given
from hypothesis import strategies as st

from lls.clock import rfc3339
from lls.sealed.chain import GENESIS_HASH, chain_hash

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)


@given(
    data=st.dictionaries(st.text(max_size=10), json_values, max_size=5),
    license=st.none() | st.text(max_size=30),
    at=st.integers(0, 4_000_000_000),
)
def test_chain_hash_equals_stdlib_canonical_json(
    data: dict[str, object], license: str | None, at: int
) -> None:
    doc = {
        "id": 7,
        "at": rfc3339(at),
        "type": "session.started",
        "license": license,
        "authContext": "héllo-✓",
        "data": data,
        "prevHash": GENESIS_HASH,
    }
    stdlib = json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    expected = hashlib.sha256(stdlib.encode()).hexdigest()
    assert (
        chain_hash(
            prev_hash=GENESIS_HASH,
            event_id=7,
            at=at,
            type="session.started",
            license=license,
            auth_context="héllo-✓",
            data=data,
        )
        == expected
    )
