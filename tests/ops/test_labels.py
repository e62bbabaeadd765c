"""Labels that reveal nothing: /metrics and the log name a license by its pool id or by an
HMAC of its token under this instance's secret, never by anything a guesser can compute."""

from __future__ import annotations

import hashlib
import hmac
import logging
import re

import pytest
from prometheus_client.parser import text_string_to_metric_families

from lls.instance import Instance
from tests.conftest import Server, ServerFactory
from tests.pools import PRODUCT, grant

# Predictable tokens, as a careless vendor might issue them: the guesser knows the scheme.
TOKENS = [f"LIC-{n:06d}" for n in (7, 123, 4242, 99_000)]
GUESSES = [f"LIC-{n:06d}" for n in range(100_000)]
HASH_LABEL = re.compile(r"^h:[0-9a-f]{16}$")


async def _labels_in_metrics(server: Server) -> set[str]:
    text = await (await server.client.get("/metrics")).text()
    return {
        sample.labels["license"]
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.labels.get("license")
    }


def _hex_of(label: str) -> str:
    return label.split(":", 1)[-1]


def _public_keys_of(instance: Instance) -> list[bytes]:
    """Everything a LAN peer can learn about the instance: its id and public keys."""
    jwks = instance.keys.public().to_jwks()["keys"]
    return [b"", instance.instance_id.encode(), *(str(k["x"]).encode() for k in jwks)]


async def test_guessing_predictable_tokens_recovers_no_label_from_metrics_or_log(
    make_server: ServerFactory, caplog: pytest.LogCaptureFixture
) -> None:
    server = await make_server([grant(t, seats=1) for t in TOKENS])
    caplog.set_level(logging.INFO, logger="lls.refusals")
    for token in TOKENS:
        await server.activate(token, "host-a")
        body = {"licenseToken": token, "productCodes": [PRODUCT], "authContext": "host-b"}
        await server.call("activate", **body)  # SESSION_LIMIT_REACHED: logged and counted
    labels = await _labels_in_metrics(server)
    labels |= {r.fields["license"] for r in caplog.records if r.name == "lls.refusals"}  # type: ignore[attr-defined]
    digests = [hashlib.sha256(g.encode()).hexdigest() for g in GUESSES]
    public = _public_keys_of(server.instance)
    keyed = [hmac.new(k, g.encode(), "sha256").hexdigest() for k in public for g in GUESSES[:2000]]
    recovered = {
        label
        for label in labels
        for digest in (*digests, *keyed)
        if digest.startswith(_hex_of(label))
    }
    assert len(labels) == len(TOKENS)
    assert recovered == set()


async def test_metric_and_log_labels_are_an_hmac_under_the_instance_secret(
    make_server: ServerFactory, caplog: pytest.LogCaptureFixture
) -> None:
    from lls.ops.labels import LicenseLabels, label_secret

    server = await make_server([grant("LIC-000123", seats=1)])
    caplog.set_level(logging.INFO, logger="lls.refusals")
    await server.activate("LIC-000123", "host-a")
    await server.call(
        "activate", licenseToken="LIC-000123", productCodes=[PRODUCT], authContext="host-b"
    )
    expected = LicenseLabels(label_secret(server.instance.keys, server.instance.instance_id))
    refusal = next(r for r in caplog.records if r.name == "lls.refusals")
    label = expected.of_token("LIC-000123")
    assert HASH_LABEL.match(label)
    assert await _labels_in_metrics(server) == {label}
    assert refusal.fields["license"] == label  # type: ignore[attr-defined]


async def test_labels_stay_the_same_across_a_restart(make_server: ServerFactory) -> None:
    first = await make_server([grant("LIC-000123", seats=1)])
    before = await _labels_in_metrics(first)
    second = await make_server()  # the same data directory, keys and database
    assert await _labels_in_metrics(second) == before


async def test_labels_of_other_instances_differ_for_the_same_token(instance: Instance) -> None:
    from lls.ops.labels import LicenseLabels, label_secret
    from lls.sealed import KeyPair

    ours = LicenseLabels(label_secret(instance.keys, instance.instance_id))
    theirs = LicenseLabels(label_secret(KeyPair.generate(), instance.instance_id))
    assert ours.of_token("LIC-000123") != theirs.of_token("LIC-000123")


async def test_a_license_with_a_pool_id_is_labelled_by_that_id(
    make_server: ServerFactory, caplog: pytest.LogCaptureFixture
) -> None:
    server = await make_server([grant("LIC-000123", seats=1, id="cad-floor-2")])
    caplog.set_level(logging.INFO, logger="lls.refusals")
    await server.activate("LIC-000123", "host-a")
    await server.call(
        "activate", licenseToken="LIC-000123", productCodes=[PRODUCT], authContext="host-b"
    )
    refusal = next(r for r in caplog.records if r.name == "lls.refusals")
    assert await _labels_in_metrics(server) == {"cad-floor-2"}
    assert refusal.fields["license"] == "cad-floor-2"  # type: ignore[attr-defined]


async def test_an_unknown_token_is_logged_by_hmac_and_counted_without_a_license_label(
    make_server: ServerFactory, caplog: pytest.LogCaptureFixture
) -> None:
    server = await make_server([grant("LIC-000123")])
    caplog.set_level(logging.INFO, logger="lls.refusals")
    await server.call("validate", licenseToken="LIC-000124")
    refusal = next(r for r in caplog.records if r.name == "lls.refusals")
    text = await (await server.client.get("/metrics")).text()
    denials = [
        s
        for f in text_string_to_metric_families(text)
        for s in f.samples
        if s.name == "lls_denials_total"
    ]
    assert HASH_LABEL.match(refusal.fields["license"])  # type: ignore[attr-defined]
    assert [(s.labels.get("license"), s.labels["reason"]) for s in denials] == [
        (None, "LICENSE_NOT_FOUND")
    ]


async def test_access_log_names_a_path_token_by_its_label(
    server: Server, caplog: pytest.LogCaptureFixture
) -> None:
    from aiohttp.test_utils import make_mocked_request

    from lls.http.observe import redacted_path

    request = make_mocked_request(
        "GET", "/admin/v1/licenses/LIC-ONE", match_info={"token": "LIC-ONE"}, app=server.client.app
    )
    path = redacted_path(request)
    assert "LIC-ONE" not in path
    assert re.fullmatch(r"/admin/v1/licenses/h:[0-9a-f]{16}", path)


def test_label_is_a_truncated_hmac_of_the_token_and_stable() -> None:
    from lls.ops.labels import LicenseLabels

    labels = LicenseLabels(b"k" * 32)
    expected = "h:" + hmac.new(b"k" * 32, b"LIC-SECRET", "sha256").hexdigest()[:16]
    assert labels.of_token("LIC-SECRET") == expected == labels.of_token("LIC-SECRET")
    assert labels.of_token("LIC-OTHER") != expected
    assert labels.of_token("LIC-SECRET", "cad-2") == "cad-2"
