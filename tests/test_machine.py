"""The machine fingerprint on a fake /sys and /etc: what counts as hardware, what matches.

The real-namespace checks (a veth pair, a copied directory under another machine id)
are in tests/faults/test_machine_binding.py; these cover the rules without root.
"""

from __future__ import annotations

import hashlib
import json
import stat
from pathlib import Path

import pytest

from lls.errors import Refused
from lls.instance import INSTANCE_FILE, init_instance, load_instance
from lls.protocol.machine import Sources, read_material
from tests.pools import VendorKeys

MACHINE_ID = "3d1219c7c4c5404aaa1f6d2a48adfda4"
ETH0 = "52:54:00:12:34:56"
ETH1 = "52:54:00:ab:cd:ef"


class FakeMachine:
    """/etc/machine-id and /sys/class/net as a directory tree the test can change."""

    def __init__(self, root: Path, machine_id: str = MACHINE_ID) -> None:
        self.root = root
        (root / "etc").mkdir(parents=True)
        (root / "net").mkdir()
        (root / "devices").mkdir()
        self.set_machine_id(machine_id)

    @property
    def sources(self) -> Sources:
        return Sources(
            machine_id_paths=(self.root / "etc" / "machine-id",),
            net_class=self.root / "net",
            product_uuid=self.root / "product_uuid",
        )

    def set_machine_id(self, machine_id: str) -> None:
        (self.root / "etc" / "machine-id").write_text(machine_id + "\n")

    def add(self, name: str, mac: str, *, device: bool = True, assign: str = "0") -> None:
        iface = self.root / "net" / name
        iface.mkdir()
        (iface / "address").write_text(mac + "\n")
        (iface / "addr_assign_type").write_text(assign + "\n")
        if device:
            (self.root / "devices" / name).mkdir(exist_ok=True)
            (iface / "device").symlink_to(self.root / "devices" / name)

    def remove(self, name: str) -> None:
        iface = self.root / "net" / name
        for child in iface.iterdir():
            child.unlink()
        iface.rmdir()


@pytest.fixture
def machine(tmp_path: Path) -> FakeMachine:
    m = FakeMachine(tmp_path / "machine")
    m.add("lo", "00:00:00:00:00:00", device=False)
    m.add("eth0", ETH0)
    return m


def _init(tmp_path: Path, vendor: VendorKeys, machine: FakeMachine) -> Path:
    data = tmp_path / "data"
    init_instance(data, vendor.write_jwks(tmp_path / "v.jwks"), sources=machine.sources)
    return data


def test_read_material_keeps_only_permanent_macs_of_devices(machine: FakeMachine) -> None:
    machine.add("veth1a2b", "be:ef:00:00:00:01", device=False)
    machine.add("docker0", "02:42:ac:11:00:01", device=False)
    machine.add("ifb0", "82:77:a3:bf:f5:78", device=False, assign="1")
    machine.add("wlan0", "de:ad:be:ef:00:01", assign="3")  # a randomised MAC on a real card
    machine.add("usbnet0", "aa:bb:cc:dd:ee:ff", assign="1")
    machine.add("tap0", "11:22:33:44:55:66")  # virtual by name even with a device link
    material = read_material(machine.sources)
    assert material.nics == (ETH0,)
    assert len(material.all_macs) == 7


def test_start_after_a_veth_pair_appeared_is_the_same_machine(
    tmp_path: Path, vendor: VendorKeys, machine: FakeMachine
) -> None:
    data = _init(tmp_path, vendor, machine)
    machine.add("veth0", "be:ef:00:00:00:01", device=False)
    machine.add("veth1", "be:ef:00:00:00:02", device=False)
    load_instance(data).check_machine(sources=machine.sources)  # does not raise


def test_start_with_a_new_machine_id_and_its_nics_present_is_the_same_machine(
    tmp_path: Path, vendor: VendorKeys, machine: FakeMachine
) -> None:
    data = _init(tmp_path, vendor, machine)
    machine.set_machine_id("0" * 31 + "1")  # the OS was reinstalled on the same hardware
    load_instance(data).check_machine(sources=machine.sources)


def test_start_with_the_machine_id_but_a_replaced_nic_is_the_same_machine(
    tmp_path: Path, vendor: VendorKeys, machine: FakeMachine
) -> None:
    data = _init(tmp_path, vendor, machine)
    machine.remove("eth0")
    machine.add("eth0", "52:54:00:99:99:99")
    load_instance(data).check_machine(sources=machine.sources)


def test_copy_under_another_machine_id_without_its_nics_is_refused(
    tmp_path: Path, vendor: VendorKeys, machine: FakeMachine
) -> None:
    data = _init(tmp_path, vendor, machine)
    machine.set_machine_id("f" * 32)
    machine.remove("eth0")
    machine.add("eth0", "52:54:00:99:99:99")
    with pytest.raises(Refused) as refused:
        load_instance(data).check_machine(sources=machine.sources)
    assert refused.value.code == "MACHINE_MISMATCH"
    assert "belongs to another machine" in refused.value.message
    assert "lls registration --rebind" in refused.value.message


def test_new_machine_id_with_only_half_the_recorded_nics_is_refused(
    tmp_path: Path, vendor: VendorKeys, machine: FakeMachine
) -> None:
    machine.add("eth1", ETH1)
    data = _init(tmp_path, vendor, machine)
    machine.set_machine_id("f" * 32)
    machine.remove("eth1")
    with pytest.raises(Refused):
        load_instance(data).check_machine(sources=machine.sources)


def test_instance_file_holds_hashes_only_and_is_private(
    tmp_path: Path, vendor: VendorKeys, machine: FakeMachine
) -> None:
    data = _init(tmp_path, vendor, machine)
    path = data / INSTANCE_FILE
    text = path.read_text()
    assert MACHINE_ID not in text
    assert ETH0 not in text and ETH0.replace(":", "") not in text
    assert set(json.loads(text)["machine"]) == {"version", "machineId", "productUuid", "nics"}
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def _legacy(data: Path, machine_id: str, macs: list[str]) -> None:
    """instance.json as an older `lls init` wrote it: one hash over every MAC."""
    info = json.loads((data / INSTANCE_FILE).read_text())
    del info["machine"]
    info["fingerprint"] = hashlib.sha256(
        "\n".join([machine_id, *sorted(macs)]).encode()
    ).hexdigest()
    (data / INSTANCE_FILE).write_text(json.dumps(info))


def test_legacy_record_is_migrated_on_first_start_after_interfaces_were_added(
    tmp_path: Path, vendor: VendorKeys, machine: FakeMachine
) -> None:
    machine.add("ifb0", "82:77:a3:bf:f5:78", device=False, assign="1")
    data = _init(tmp_path, vendor, machine)
    _legacy(data, MACHINE_ID, [ETH0, "82:77:a3:bf:f5:78"])
    machine.add("veth0", "be:ef:00:00:00:01", device=False)
    machine.add("docker0", "02:42:ac:11:00:01", device=False)
    load_instance(data).check_machine(sources=machine.sources)
    migrated = load_instance(data)
    machine.add("veth1", "be:ef:00:00:00:02", device=False)
    migrated.check_machine(sources=machine.sources)
    assert migrated.machine is not None and len(migrated.machine.nics) == 1
    assert stat.S_IMODE((data / INSTANCE_FILE).stat().st_mode) == 0o600


def test_legacy_record_of_another_machine_is_refused_and_left_alone(
    tmp_path: Path, vendor: VendorKeys, machine: FakeMachine
) -> None:
    data = _init(tmp_path, vendor, machine)
    _legacy(data, "f" * 32, ["52:54:00:99:99:99"])
    before = (data / INSTANCE_FILE).read_bytes()
    with pytest.raises(Refused):
        load_instance(data).check_machine(sources=machine.sources)
    assert (data / INSTANCE_FILE).read_bytes() == before


def test_legacy_stable_id_keeps_working_and_is_migrated(
    tmp_path: Path, vendor: VendorKeys, machine: FakeMachine
) -> None:
    data = _init(tmp_path, vendor, machine)
    info = json.loads((data / INSTANCE_FILE).read_text())
    del info["machine"]
    info["fingerprint"] = hashlib.sha256(b"stable:box-7").hexdigest()
    (data / INSTANCE_FILE).write_text(json.dumps(info))
    load_instance(data).check_machine("box-7", sources=machine.sources)
    migrated = load_instance(data)
    migrated.check_machine("box-7", sources=machine.sources)
    with pytest.raises(Refused):
        migrated.check_machine("box-8", sources=machine.sources)
    assert migrated.machine is not None and migrated.machine.stable is not None
