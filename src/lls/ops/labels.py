"""How metrics and log lines name a license: by its pool `id`, else by a keyed hash of its token.

`/metrics` needs no login and logs travel to shippers, so neither may carry a
token or anything a guesser can check a guess against. An unsalted hash of the
token is such a thing (tokens are often predictable: `LIC-000123`). The label is
therefore the license's non-secret pool `id` (sync-format §2) when it has one,
else `h:` + the first 16 hex digits of HMAC-SHA256(token) under a secret of this
instance. The secret is derived from the instance's private signing key with
HKDF (`label_secret`): nothing new to create, back up or migrate, the same for
every start of the instance, different on every other instance, and useless to
whoever does not hold `instance.key`. An id never contains `:`, so the two forms
cannot be mistaken for each other.
"""

from __future__ import annotations

import hmac

from lls.sealed.keys import KeyPair

HASH_PREFIX = "h:"
HASH_HEX = 16  # 64 bits: no collision among a million licenses in practice, short in a label
LABEL_INFO = b"lls/license-label/v1"
# A hostile client sends as many unknown tokens as it likes: those are hashed each
# time and never remembered; licenses of the pool are remembered up to this many.
MAX_REMEMBERED = 1_000_000


def label_secret(keys: KeyPair, instance_id: str) -> bytes:
    """This instance's label secret: HKDF-SHA256 of its signing key, salted by its id."""
    return keys.derive_secret(info=LABEL_INFO, salt=instance_id.encode())


class LicenseLabels:
    """Names licenses for metrics and logs; one instance per server, shared by both."""

    def __init__(self, secret: bytes) -> None:
        self._secret = secret
        self._known: dict[str, str] = {}

    def of_token(self, token: str, license_id: str | None = None, *, remember: bool = True) -> str:
        """The label of `token`: `license_id` when given, else `h:<16 hex>` of its HMAC.

        `remember` keeps the hash for the next call (for licenses of the pool); pass
        False for a token nobody vouched for, so a flood of guesses holds no memory.
        """
        if license_id:
            return license_id
        label = self._known.get(token)
        if label is None:
            digest = hmac.digest(self._secret, token.encode("utf-8", "surrogatepass"), "sha256")
            label = HASH_PREFIX + digest.hex()[:HASH_HEX]
            if remember:
                if len(self._known) >= MAX_REMEMBERED:
                    self._known.clear()
                self._known[token] = label
        return label
