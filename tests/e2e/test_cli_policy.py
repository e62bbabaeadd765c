"""`lls policy …` as a process, and SIGHUP putting an edited policy file in force."""

from __future__ import annotations

import signal
import time
from pathlib import Path

from tests.e2e.conftest import Daemon, lls

EXAMPLE = Path(__file__).resolve().parents[2] / "config" / "policy.example.yaml"
POLICY = (
    "groups:\n  lab: {authContexts: ['lab-*']}\nrules:\n  - {licenses: [LIC], reserve: {lab: 1}}\n"
)


def test_policy_check_process_exits_0_on_the_example() -> None:
    done = lls("policy", "check", str(EXAMPLE))
    assert (done.returncode, done.stdout) == (0, f"{EXAMPLE}: valid, 4 groups, 2 rules\n")


def test_policy_check_process_exits_1_with_line_and_reason(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(POLICY.replace("reserve:", "reserv:"))
    done = lls("policy", "check", str(path), check=False)
    assert done.returncode == 1 and done.stdout == ""
    assert (
        done.stderr == f"lls: {path} line 4: unknown key reserv in rule 1; did you mean reserve?\n"
    )


def test_serve_with_bad_policy_file_does_not_start(daemon: Daemon, tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(POLICY.replace("lab: 1", "lab: -1"))
    done = lls(
        "serve",
        "--data-dir",
        str(daemon.data_dir),
        "--port",
        str(daemon.port),
        env={"LLS_POLICY_FILE": str(path)},
        check=False,
    )
    assert done.returncode == 1
    assert f"lls: {path} line 4: reserve lab of rule 1 must be 0 or more, not -1" in done.stderr


def test_sighup_puts_the_edited_policy_in_force_and_a_bad_one_is_refused(
    daemon: Daemon, tmp_path: Path
) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(POLICY)
    daemon.config = tmp_path / "lls.yaml"
    daemon.config.write_text(f"policy:\n  file: {path}\n")
    daemon.start()
    token = (daemon.data_dir / "admin.token").read_text().strip()
    loaded = daemon.wait_log("seat policy in force").count("seat policy in force")  # at start
    path.write_text(POLICY.replace("reserve: {lab: 1}", "reserve: {lab: 2}"))
    daemon.signal(signal.SIGHUP)
    deadline = time.monotonic() + 10  # the reload's own line, not the one the start wrote
    while daemon.log_path.read_text().count("seat policy in force") <= loaded:
        assert time.monotonic() < deadline, "SIGHUP put no policy in force"
        time.sleep(0.05)
    _, shown = daemon.get("/admin/v1/policy", token)
    path.write_text(POLICY.replace("lab: 1", "labz: 1"))
    daemon.signal(signal.SIGHUP)
    daemon.wait_log("reload refused, the settings in force are kept: policy:")
    _, kept = daemon.get("/admin/v1/policy", token)
    assert shown["rules"][0]["reserve"] == {"lab": 2} and kept["sha256"] == shown["sha256"]
    assert daemon.stop() == 0
