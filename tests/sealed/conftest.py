"""Session-scoped key pairs for the envelope tests: generating keys is cheap, but once is enough."""

from __future__ import annotations

import pytest

from lls.sealed import KeyPair


@pytest.fixture(scope="session")
def vendor_pair() -> KeyPair:
    return KeyPair.generate()


@pytest.fixture(scope="session")
def instance_pair() -> KeyPair:
    return KeyPair.generate()


@pytest.fixture(scope="session")
def stranger_pair() -> KeyPair:
    """A party nobody trusts and nobody encrypts to."""
    return KeyPair.generate()
