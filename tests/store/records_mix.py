"""Valid sequences of write records, as the rules emit them, to hold two stores to one contract.

A small model tracks what exists so every record is one a real batch could carry
(no duplicate session, no checkout of an ended session), while the key spaces are
small enough that batches end and restart sessions on the same license/authContext,
rebind environments, rewrite meta keys and prune between appends — the orders a
store must not get wrong.
"""

from __future__ import annotations

import random
from typing import Any

from lls.domain.models import ClientInfo
from lls.domain.records import (
    AppendEvent,
    BindEnvironment,
    EndSession,
    ForgetContexts,
    NoteContexts,
    PruneContexts,
    PruneEvents,
    Record,
    RecordExport,
    ReleaseEnvironment,
    SaveOffline,
    SavePool,
    SetConsumed,
    SetHeld,
    SetLicenseFlags,
    SetMeta,
    SetPeak,
    SetSessionClient,
    StartSession,
    TouchSession,
)

LICENSES = ["LIC-A", "LIC-B", "LIC-C"]
CONTEXTS = ["h1", "h2", "h3", "h4"]
FEATURES = ["F1", "F2"]


class Mix:
    """Generates requests (lists of records) that are valid against everything before them."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.live: dict[str, tuple[str, str]] = {}  # session id -> (license, context)
        self.n = 0
        self.events = 0
        self.pool_seq = 0
        self.export_seq = 0
        self.at = 1_700_000_000.0

    def request(self) -> list[Record]:
        """One request's records: a decision and its audit event(s)."""
        rng = self.rng
        self.at += rng.choice([0.0, 0.5, 1.25])
        kind = rng.choice(
            ["start", "start", "touch", "end", "held", "misc", "misc", "pool", "offline"]
        )
        out: list[Record] = []
        if kind == "start" or not self.live:
            lic, ctx = rng.choice(LICENSES), rng.choice(CONTEXTS)
            for sid, slot in list(self.live.items()):
                if slot == (lic, ctx):  # a re-activation ends the old session first
                    out.append(EndSession(sid))
                    del self.live[sid]
            self.n += 1
            sid = f"s{self.n}"
            self.live[sid] = (lic, ctx)
            out += [
                StartSession(sid, lic, ctx, self.at, self.at + 600, *self._holder()),
                self._event("session.started", lic, ctx, {"session": sid, "n": self.n}),
                SetPeak(lic, rng.randint(1, 5)),
            ]
        elif kind == "touch":
            sid = rng.choice(sorted(self.live))
            out += [TouchSession(sid, self.at + 600), self._event("session.extended")]
            if rng.random() < 0.3:  # its client moved, or said more about itself
                out.append(SetSessionClient(sid, *self._holder()))
        elif kind == "end":
            sid = rng.choice(sorted(self.live))
            lic, ctx = self.live.pop(sid)
            out += [EndSession(sid), self._event("session.ended", lic, ctx, {"why": "bye"})]
        elif kind == "held":
            sid = rng.choice(sorted(self.live))
            lic, _ = self.live[sid]
            feature = rng.choice(FEATURES)
            out += [
                SetHeld(sid, feature, rng.choice([0, 1, 2])),
                SetConsumed(lic, feature, rng.randint(0, 9)),
            ]
        elif kind == "misc":
            out += self._misc()
        elif kind == "pool":
            self.pool_seq += 1
            out += [
                SavePool(self.pool_seq, 1, 2, "org", self.export_seq, self.at, f"raw-{self.n}"),
                self._event("pool.imported", data={"seq": self.pool_seq}),
            ]
        else:
            out.append(self._offline())
        return out

    def _misc(self) -> list[Record]:
        rng = self.rng
        choice = rng.randrange(10)
        ctx = rng.choice(CONTEXTS)
        if choice == 6:  # the misuse job writes the contexts validate noted
            seen = {(rng.choice(LICENSES), c): self.at - rng.choice([0, 5, 20]) for c in CONTEXTS}
            return [NoteContexts(tuple((lic, c, at) for (lic, c), at in seen.items()))]
        if choice == 7:
            return [PruneContexts(self.at - rng.choice([5.0, 30.0]))]
        if choice == 8:  # an admin unlocked it: the contexts seen before do not count again
            lic = rng.choice(LICENSES)
            return [ForgetContexts(lic), self._event("license.unlocked", lic)]
        if choice == 0:
            return [SetMeta(rng.choice(["floor", "usage_seq"]), str(self.at))]
        if choice == 1:
            return [BindEnvironment(ctx, rng.choice(["org-1", "org-2"]), self.at)]
        if choice == 2:
            return [ReleaseEnvironment(ctx)]
        if choice == 3:
            lic = rng.choice(LICENSES)
            locked = self.at if rng.random() < 0.3 else None
            return [SetLicenseFlags(lic, rng.choice([None, ctx]), self.at, locked)]
        if choice == 4 and self.events:
            self.export_seq += 1
            return [RecordExport(self.export_seq, self.events, f"{self.events:064x}", self.at)]
        if self.events:
            return [PruneEvents(rng.randint(0, self.events))]
        return [self._event("noop")]

    def _holder(self) -> tuple[str | None, ClientInfo | None]:
        """Who holds a session: nothing (an old client), an address, or an address and info."""
        rng = self.rng
        address = rng.choice([None, "10.0.0.7", "::1"])
        if address is None or rng.random() < 0.5:
            return address, None
        return address, ClientInfo(rng.choice(["ws-1", None]), "ann", "CAD ✓", None)

    def _offline(self) -> SaveOffline:
        rng = self.rng
        oid = f"off-{rng.randrange(3)}"
        keys: dict[str, Any] = {"keys": [{"kty": "OKP", "crv": "Ed25519", "x": oid}]}
        gone = self.at if rng.random() < 0.3 else None
        lic = rng.choice(LICENSES)
        kind = rng.choice(["offline", "borrow"])
        return SaveOffline(
            oid, lic, "dev", "kid", keys, f"n{self.n}", self.at, self.at + 9, gone, kind
        )

    def _event(
        self,
        type: str,
        license: str | None = None,
        ctx: str | None = None,
        data: dict[str, Any] | None = None,
    ) -> AppendEvent:
        self.events += 1
        payload = data or {}
        payload["text"] = "ünïcode ✓"  # canonical JSON keeps it unescaped
        return AppendEvent(self.at, type, license, ctx, payload)
