"""Tamper evidence on the vendor side: usage files must carry one unbroken hash chain.

The files here are real: sealed with an instance key registered in a vendor
workspace, events hashed with `lls.sealed.chain.chain_hash` exactly as the
instance hashes them, exported by a small stand-in for the instance that follows
the usage-file contract (sync-format.md §3): each file holds every event after
the acknowledged point, the acknowledged point moves when a pool is imported.
"""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import msgspec
import pytest

from lls.central import UsageFlagged, UsageSummary, VendorWorkspace
from lls.clock import parse_rfc3339, rfc3339
from lls.sealed import KeyPair, decode_payload, open_sealed, seal, write_sealed_file
from lls.sealed.chain import GENESIS_HASH, chain_hash
from lls.sealed.payloads import (
    TYP_POOL,
    TYP_USAGE,
    ClockReport,
    EventRange,
    FeatureUsage,
    LicenseUsage,
    PoolPayload,
    UsageEvent,
    UsagePayload,
)
from tests.central.kit import NOW, VENDOR_ID, registration

GRANTS: dict[str, Any] = {
    "org": {"id": "org-42", "name": "Acme"},
    "licenses": [{"token": "T-1", "productCodes": ["P"], "seats": 5}],
}
REPO = Path(__file__).parents[2]


class Site:
    """A stand-in for one LLS instance: its audit chain, its usage files, its acknowledged point."""

    def __init__(self, keys: KeyPair, vendor: VendorWorkspace, iss: str = "inst-1") -> None:
        self.keys, self.vendor, self.iss = keys, vendor, iss
        self.events: list[UsageEvent] = []
        self.seq = 0
        self.acked = 0  # events up to this id are pruned (acknowledged by an imported pool)
        self.exported: dict[int, int | None] = {}  # usage seq -> its eventRange.last

    def write(self, count: int, kind: str = "session.started", **data: Any) -> None:
        for _ in range(count):
            event_id = len(self.events) + 1
            prev = self.events[-1].hash if self.events else GENESIS_HASH
            assert prev is not None
            at = rfc3339(NOW + 60 * event_id)
            host = f"host-{event_id % 3}"
            self.events.append(
                UsageEvent(
                    id=event_id,
                    at=at,
                    type=kind,
                    license="T-1",
                    authContext=host,
                    data=dict(data),
                    prevHash=prev,
                    hash=chain_hash(
                        prev_hash=prev,
                        event_id=event_id,
                        at=parse_rfc3339(at),
                        type=kind,
                        license="T-1",
                        auth_context=host,
                        data=dict(data),
                    ),
                )
            )

    def payload(self) -> UsagePayload:
        """The next usage file's payload (consumes a seq, as an export does)."""
        self.seq += 1
        pending = [e for e in self.events if e.id > self.acked]
        head = self.events[-1].hash if self.events else None
        self.exported[self.seq] = pending[-1].id if pending else None
        return UsagePayload(
            iss=self.iss,
            aud=VENDOR_ID,
            iat=NOW + self.seq,
            seq=self.seq,
            poolSeq=1,
            events=pending,
            eventRange=EventRange(
                first=pending[0].id if pending else None, last=pending[-1].id if pending else None
            ),
            licenses=[
                LicenseUsage(
                    token="T-1",
                    seats=5,
                    liveSessions=2,
                    peakSessions=4,
                    features=[FeatureUsage(code="API_CALLS", consumed=1200)],
                )
            ],
            clock=ClockReport(tamperDetected=False, floor="2026-11-22T09:59:00Z"),
            chainHead=head,
        )

    def export(self) -> str:
        return self.seal(self.payload())

    def seal(self, payload: UsagePayload) -> str:
        return seal(
            msgspec.json.encode(payload),
            typ=TYP_USAGE,
            signer=self.keys,
            recipient=self.vendor.keys.public(),
        )

    def import_pool(self, token: str) -> None:
        vendor = self.vendor.keys.public()
        raw = open_sealed(token, typ=TYP_POOL, recipient=self.keys, trusted=[vendor])
        ack = decode_payload(raw, PoolPayload).ackUsageSeq
        last = self.exported.get(ack)
        if last is not None:
            self.acked = max(self.acked, last)

    def clone(self) -> Site:
        """A copy of the instance as it stands (a snapshot, or a copied data directory)."""
        twin = copy.copy(self)
        twin.events, twin.exported = list(self.events), dict(self.exported)
        return twin


@pytest.fixture(scope="module")
def keys() -> KeyPair:
    return KeyPair.generate()


@pytest.fixture
def ws(tmp_path: Path, keys: KeyPair) -> VendorWorkspace:
    ws = VendorWorkspace.init(tmp_path / "V", VENDOR_ID)
    ws.register(registration(keys, ws.keys.public()), now=NOW)
    return ws


@pytest.fixture
def site(keys: KeyPair, ws: VendorWorkspace) -> Site:
    return Site(keys, ws)


def flagged(ws: VendorWorkspace, token: str) -> UsageSummary:
    """Read a file that must be flagged; check nothing was recorded; its summary."""
    before = (ws.directory / "state.json").read_bytes()
    with pytest.raises(UsageFlagged) as caught:
        ws.read_usage(token)
    assert (ws.directory / "state.json").read_bytes() == before
    summary = caught.value.summary
    assert not summary.recorded and summary.problems
    assert caught.value.code == summary.problems[0].code
    return summary


def issue_pool(ws: VendorWorkspace, site: Site, tmp_path: Path) -> PoolPayload:
    return ws.issue_to_file("inst-1", GRANTS, NOW, tmp_path / "next.pool")


def test_chain_continues_across_files_with_overlap_and_ack(
    ws: VendorWorkspace, site: Site, tmp_path: Path
) -> None:
    site.write(3)
    first = ws.read_usage(site.export())
    site.write(2)
    second = ws.read_usage(site.export())  # not acknowledged yet: repeats events 1–3
    pool = issue_pool(ws, site, tmp_path)
    site.import_pool((tmp_path / "next.pool").read_text().splitlines()[-1])
    site.write(3)
    third = ws.read_usage(site.export())

    record = VendorWorkspace.open(ws.directory).instance("inst-1")
    assert [(s.verdict, s.first_event, s.last_event) for s in (first, second, third)] == [
        ("ok", 1, 3),
        ("ok", 1, 5),
        ("ok", 6, 8),
    ]
    assert pool.ackUsageSeq == 2
    assert (record.lastUsageSeq, record.lastEventId, record.lastChainHead) == (
        3,
        8,
        site.events[-1].hash,
    )
    assert (record.ackedUsageSeq, record.ackedEventId) == (2, 5)
    assert record.chainPoints == {5: site.events[4].hash, 8: site.events[7].hash}
    assert sorted(record.usageFiles) == [2, 3]
    assert ws.issue("inst-1", GRANTS, NOW)[1].ackUsageSeq == 3


def test_issued_pool_prunes_points_and_files_below_its_ack(
    ws: VendorWorkspace, site: Site, tmp_path: Path
) -> None:
    for _ in range(3):
        site.write(2)
        ws.read_usage(site.export())
    before = ws.instance("inst-1")

    issue_pool(ws, site, tmp_path)

    after = ws.instance("inst-1")
    assert sorted(before.chainPoints) == [2, 4, 6] and sorted(before.usageFiles) == [1, 2, 3]
    assert after.chainPoints == {6: site.events[5].hash} and sorted(after.usageFiles) == [3]
    assert (after.ackedUsageSeq, after.ackedEventId) == (3, 6)


def test_instance_that_has_not_imported_the_ack_still_links(
    ws: VendorWorkspace, site: Site, tmp_path: Path
) -> None:
    site.write(3)
    ws.read_usage(site.export())
    site.write(2)
    ws.read_usage(site.export())
    issue_pool(ws, site, tmp_path)  # the site never imports it
    site.write(3)

    summary = ws.read_usage(site.export())

    assert (summary.verdict, summary.first_event, summary.last_event) == ("ok", 1, 8)


def test_same_seq_other_content_is_a_fork(ws: VendorWorkspace, site: Site) -> None:
    site.write(3)
    ws.read_usage(site.export())
    twin = site.clone()
    site.write(2)
    twin.write(2, "feature.checkout", code="F")
    ws.read_usage(site.export())

    summary = flagged(ws, twin.export())

    assert summary.verdict == "fork" and summary.seq == 2
    assert [p.code for p in summary.problems] == ["FORK", "HISTORY_REWRITTEN"]
    assert "usage file seq 2 differs from the seq 2 read before" in summary.problems[0].message
    assert "two copies" in summary.problems[0].message
    assert "Issue no further pool to inst-1" in summary.advice


def test_same_seq_same_events_exported_by_a_copy_is_a_fork(ws: VendorWorkspace, site: Site) -> None:
    site.write(3)
    twin = site.clone()
    ws.read_usage(site.export())
    copy_payload = twin.payload()  # the copy exports the same seq, same events, a moment later

    summary = flagged(
        ws, twin.seal(msgspec.structs.replace(copy_payload, iat=copy_payload.iat + 30))
    )

    assert (summary.verdict, [p.code for p in summary.problems]) == ("fork", ["FORK"])
    assert "same events 1–3, but made" in summary.problems[0].message
    assert "the seq was exported twice" in summary.problems[0].message


def test_newer_seq_rewriting_read_history_is_a_fork(ws: VendorWorkspace, site: Site) -> None:
    site.write(3)
    ws.read_usage(site.export())
    twin = site.clone()
    site.write(2)
    ws.read_usage(site.export())
    twin.write(4, "session.ended")
    twin.payload()  # the copy exported a seq 2 that was never read here

    summary = flagged(ws, twin.export())

    assert (summary.verdict, summary.seq) == ("fork", 3)
    assert [p.code for p in summary.problems] == ["HISTORY_REWRITTEN"]
    assert "event 5 differs from the event 5 read before" in summary.problems[0].message


def test_history_ending_before_the_last_event_read_is_a_fork(
    ws: VendorWorkspace, site: Site
) -> None:
    site.write(3)
    ws.read_usage(site.export())
    snapshot = site.clone()
    site.write(3)
    ws.read_usage(site.export())
    snapshot.write(1)
    snapshot.seq = 5  # its seq even got ahead

    summary = flagged(ws, snapshot.export())

    assert summary.verdict == "fork"
    assert "ends at event 4, but event 6 was already read" in summary.problems[0].message


def test_lower_seq_than_last_read_is_a_regression(ws: VendorWorkspace, site: Site) -> None:
    site.write(2)
    ws.read_usage(site.export())
    site.write(1)
    unread = site.export()
    site.write(1)
    ws.read_usage(site.export())

    summary = flagged(ws, unread)

    assert (summary.verdict, [p.code for p in summary.problems]) == ("regression", ["REGRESSION"])
    assert "seq 2 is older than the last one read" in summary.problems[0].message
    assert "restored from an older snapshot" in summary.problems[0].message


def _alter_data(events: list[UsageEvent]) -> list[UsageEvent]:
    events[1] = msgspec.structs.replace(events[1], data={"seats": 99})
    return events


def _alter_link(events: list[UsageEvent]) -> list[UsageEvent]:
    events[2] = msgspec.structs.replace(events[2], prevHash="f" * 64)
    return events


def _drop_one(events: list[UsageEvent]) -> list[UsageEvent]:
    return [e for e in events if e.id != 2]


def _no_hash(events: list[UsageEvent]) -> list[UsageEvent]:
    events[0] = msgspec.structs.replace(events[0], hash=None)
    return events


def _not_genesis(events: list[UsageEvent]) -> list[UsageEvent]:
    events[0] = msgspec.structs.replace(events[0], prevHash="1" * 64)
    return events


@pytest.mark.parametrize(
    ("alter", "words"),
    [
        (_alter_data, "event 2 does not match its hash: the event was altered"),
        (_alter_link, "event 3 does not follow event 2"),
        (_drop_one, "the events are not contiguous: event 2 is missing"),
        (_no_hash, "event 1 carries no hash"),
        (_not_genesis, "event 1 does not start the chain"),
    ],
)
def test_altered_event_log_is_refused(
    ws: VendorWorkspace, site: Site, alter: Any, words: str
) -> None:
    site.write(4)
    honest = site.payload()
    altered = msgspec.structs.replace(honest, events=alter(list(honest.events)))

    summary = flagged(ws, site.seal(altered))

    assert summary.verdict == "chain_broken" and summary.problems[0].code == "CHAIN_BROKEN"
    assert words in summary.problems[0].message


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"eventRange": EventRange(first=1, last=9)}, "says it holds events 1–9"),
        ({"chainHead": "e" * 64}, "chain head eeeeeeeeeeee… is not the hash of its last event 3"),
        ({"events": [], "eventRange": EventRange(first=1, last=3)}, "carries none"),
    ],
)
def test_file_not_matching_its_own_events_is_refused(
    ws: VendorWorkspace, site: Site, change: dict[str, Any], words: str
) -> None:
    site.write(3)

    summary = flagged(ws, site.seal(msgspec.structs.replace(site.payload(), **change)))

    assert summary.verdict == "chain_broken" and words in summary.problems[0].message


def test_events_never_received_are_missing(ws: VendorWorkspace, site: Site) -> None:
    site.write(3)
    ws.read_usage(site.export())
    site.write(5)
    site.acked = 5  # pruned without an acknowledgement from this vendor

    summary = flagged(ws, site.export())

    assert (summary.verdict, summary.problems[0].code) == ("chain_broken", "MISSING_EVENTS")
    assert "events 4–5 of instance inst-1 were never received" in summary.problems[0].message


def test_first_file_not_starting_at_event_1_is_missing_events(
    ws: VendorWorkspace, site: Site
) -> None:
    site.write(4)
    site.acked = 2

    summary = flagged(ws, site.export())

    assert summary.problems[0].code == "MISSING_EVENTS"
    assert "events 1–2" in summary.problems[0].message


def test_same_file_read_again_is_harmless(ws: VendorWorkspace, site: Site) -> None:
    site.write(3)
    payload = site.payload()
    ws.read_usage(site.seal(payload))
    state = (ws.directory / "state.json").read_bytes()

    again = ws.read_usage(site.seal(payload))  # sealed anew: other bytes, same signed payload

    assert (again.verdict, again.recorded, again.problems) == ("duplicate", False, ())
    assert "already read" in again.advice
    assert (ws.directory / "state.json").read_bytes() == state


def test_older_file_still_remembered_read_again_is_harmless(
    ws: VendorWorkspace, site: Site
) -> None:
    site.write(1)
    older = site.export()
    ws.read_usage(older)
    site.write(1)
    ws.read_usage(site.export())

    assert ws.read_usage(older).verdict == "duplicate"


def test_empty_files_carry_the_acknowledged_head(
    ws: VendorWorkspace, site: Site, tmp_path: Path
) -> None:
    assert ws.read_usage(site.export()).verdict == "ok"  # no event ever: head null
    site.write(2)
    ws.read_usage(site.export())
    issue_pool(ws, site, tmp_path)
    site.import_pool((tmp_path / "next.pool").read_text().splitlines()[-1])
    empty = site.payload()

    summary = ws.read_usage(site.seal(empty))
    twin = flagged(ws, site.seal(msgspec.structs.replace(empty, seq=9, chainHead="d" * 64)))

    assert (summary.verdict, summary.event_count, summary.chain_head) == (
        "ok",
        0,
        site.events[-1].hash,
    )
    assert twin.verdict == "fork" and "its history was rewritten" in twin.problems[0].message
    record = ws.instance("inst-1")
    assert (record.lastUsageSeq, record.lastEventId) == (3, 2)


def test_pool_after_a_flagged_file_still_acks_the_last_good_one(
    ws: VendorWorkspace, site: Site
) -> None:
    site.write(2)
    ws.read_usage(site.export())
    site.write(1)
    site.acked = 3
    flagged(ws, site.export())

    assert ws.issue("inst-1", GRANTS, NOW)[1].ackUsageSeq == 1


# -- the command line -----------------------------------------------------------------


def read_usage_cli(vdir: Path, path: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    argv = ["vendor", "read-usage", "--dir", str(vdir), str(path), *extra]
    return subprocess.run(
        [sys.executable, "-m", "lls", *argv],
        capture_output=True,
        text=True,
        cwd=REPO,
        check=False,
        timeout=60,
    )


def write(path: Path, token: str) -> Path:
    write_sealed_file(path, token, {"kind": TYP_USAGE})
    return path


@pytest.mark.e2e  # `python -m lls` in a process of its own
def test_cli_fork_exits_1_in_plain_words(ws: VendorWorkspace, site: Site, tmp_path: Path) -> None:
    site.write(3)
    twin = site.clone()
    ws.read_usage(site.export())
    twin.write(1)

    done = read_usage_cli(ws.directory, write(tmp_path / "u.lls", twin.export()))

    assert done.returncode == 1
    assert "verdict: FORK — NOT recorded" in done.stdout
    assert "two copies of instance inst-1 exist" in done.stdout
    assert "what to do: Issue no further pool to inst-1" in done.stdout
    assert done.stderr.count("\n") == 1 and "(FORK)" in done.stderr


@pytest.mark.e2e  # `python -m lls` in a process of its own
def test_cli_table_then_already_read(ws: VendorWorkspace, site: Site, tmp_path: Path) -> None:
    site.write(3)
    path = write(tmp_path / "u.lls", site.export())

    first = read_usage_cli(ws.directory, path)
    again = read_usage_cli(ws.directory, path)

    assert first.returncode == 0, first.stderr
    lines = first.stdout.splitlines()
    assert "instance    inst-1" in lines and "pool seq    1" in lines
    assert "events      3 (1–3): 3 session.started" in lines
    assert f"chain head  {str(site.events[-1].hash)[:12]}…" in lines
    assert any(line.startswith("clock       ok") for line in lines)
    assert "T-1          5     2     4  API_CALLS 1200" in lines
    assert lines[-1] == (
        "verdict: OK — accepted: the next pool issued to inst-1 acknowledges usage seq 1"
    )
    assert again.returncode == 0 and "verdict: ALREADY READ — already read" in again.stdout


@pytest.mark.e2e  # `python -m lls` in a process of its own
def test_cli_json_shape(ws: VendorWorkspace, site: Site, tmp_path: Path) -> None:
    site.write(2)
    ok = read_usage_cli(ws.directory, write(tmp_path / "1.lls", site.export()), "--json")
    site.write(2)
    site.acked = 3
    gap = read_usage_cli(ws.directory, write(tmp_path / "2.lls", site.export()), "--json")

    good, bad = json.loads(ok.stdout), json.loads(gap.stdout)
    assert (ok.returncode, gap.returncode) == (0, 1)
    assert set(good) == {
        "verdict",
        "recorded",
        "problems",
        "advice",
        "instanceId",
        "seq",
        "poolSeq",
        "iat",
        "eventCount",
        "eventRange",
        "eventTypes",
        "clock",
        "chainHead",
        "licenses",
    }
    assert (good["verdict"], good["recorded"], good["problems"]) == ("ok", True, [])
    assert good["eventRange"] == {"first": 1, "last": 2}
    assert good["chainHead"] == site.events[1].hash
    assert (bad["verdict"], bad["recorded"]) == ("chain_broken", False)
    assert [p["code"] for p in bad["problems"]] == ["MISSING_EVENTS"]
    assert "never received" in bad["problems"][0]["message"]


@pytest.mark.e2e  # `python -m lls` in a process of its own
def test_cli_missing_file_exits_2(ws: VendorWorkspace, tmp_path: Path) -> None:
    assert read_usage_cli(ws.directory, tmp_path / "absent.lls").returncode == 2
