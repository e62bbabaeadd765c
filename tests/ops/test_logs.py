"""Log formats (ops/logs.py)."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from lls.config.load import load_config
from lls.errors import BadRequest
from lls.ops.logs import configure_logging, fields


@pytest.fixture
def restore_root_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(level)


def _emit(fmt: str) -> str:
    out = io.StringIO()
    configure_logging("INFO", fmt, stream=out)
    logging.getLogger("lls.test").info(
        "refused", extra=fields(reason="SESSION_LIMIT_REACHED", authContext="host a", n=3)
    )
    return out.getvalue()


@pytest.mark.usefixtures("restore_root_logging")
def test_json_format_writes_one_object_per_line_with_fields() -> None:
    line = _emit("json")
    doc = json.loads(line)
    assert line.count("\n") == 1
    assert (doc["level"], doc["logger"], doc["msg"]) == ("info", "lls.test", "refused")
    assert (doc["reason"], doc["authContext"], doc["n"]) == ("SESSION_LIMIT_REACHED", "host a", 3)
    assert doc["ts"].endswith("Z")


@pytest.mark.usefixtures("restore_root_logging")
def test_logfmt_format_quotes_values_with_spaces() -> None:
    line = _emit("logfmt").strip()
    assert " level=info logger=lls.test msg=refused reason=SESSION_LIMIT_REACHED" in line
    assert line.endswith('authContext="host a" n=3')


@pytest.mark.usefixtures("restore_root_logging")
def test_text_format_appends_fields_to_the_classic_line() -> None:
    line = _emit("text").strip()
    assert " INFO lls.test: refused reason=SESSION_LIMIT_REACHED" in line
    assert line.endswith('authContext="host a" n=3')


def test_config_refuses_an_unknown_log_format(tmp_path: Path) -> None:
    with pytest.raises(BadRequest, match=r"log\.format"):
        load_config(None, env={"LLS_LOG_FORMAT": "xml"})
    assert load_config(None, env={"LLS_LOG_FORMAT": "logfmt"}).log_format == "logfmt"
