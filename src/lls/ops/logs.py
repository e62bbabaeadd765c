"""Log output for operators: text, logfmt or JSON lines.

A log line never carries a license token or key in clear: code that wants to say
which license refers to it by its label (`lls.ops.labels`: the pool's license
id, or a keyed hash of the token — stable, so lines about one license can be
grepped together, and the same label /metrics uses). Structured fields go in
`extra={"fields": {...}}`; every format prints them.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, TextIO

FIELDS_ATTR = "fields"


def fields(**values: Any) -> dict[str, Any]:
    """`extra=` for a log call with structured fields: `log.info("x", extra=fields(a=1))`."""
    return {FIELDS_ATTR: values}


def _timestamp(record: logging.LogRecord) -> str:
    moment = datetime.fromtimestamp(record.created, tz=UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _record_fields(record: logging.LogRecord) -> Mapping[str, Any]:
    found = getattr(record, FIELDS_ATTR, None)
    return found if isinstance(found, Mapping) else {}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, msg, then the record's fields."""

    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, Any] = {
            "ts": _timestamp(record),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in _record_fields(record).items():
            doc.setdefault(key, value)
        if record.exc_info:
            doc["exc"] = self.formatException(record.exc_info)
        return json.dumps(doc, default=str, ensure_ascii=False)


def _logfmt_value(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    text = str(value)
    if text and not any(c in text for c in ' ="\\\n\t'):
        return text
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


class LogfmtFormatter(logging.Formatter):
    """`key=value` pairs on one line (the Heroku/Grafana Loki convention)."""

    def format(self, record: logging.LogRecord) -> str:
        pairs: list[tuple[str, Any]] = [
            ("ts", _timestamp(record)),
            ("level", record.levelname.lower()),
            ("logger", record.name),
            ("msg", record.getMessage()),
        ]
        pairs.extend(_record_fields(record).items())
        if record.exc_info:
            pairs.append(("exc", self.formatException(record.exc_info)))
        return " ".join(f"{key}={_logfmt_value(value)}" for key, value in pairs)


class TextFormatter(logging.Formatter):
    """For people: the classic line, with the record's fields appended as key=value."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def formatMessage(self, record: logging.LogRecord) -> str:
        line = super().formatMessage(record)
        extra = _record_fields(record)
        if not extra:
            return line
        return line + " " + " ".join(f"{k}={_logfmt_value(v)}" for k, v in extra.items())


FORMATTERS: dict[str, type[logging.Formatter]] = {
    "text": TextFormatter,
    "logfmt": LogfmtFormatter,
    "json": JsonFormatter,
}


def configure_logging(level: str, fmt: str, stream: TextIO | None = None) -> logging.Handler:
    """Send the root logger to stderr (journald, `docker logs`) in the chosen format."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(FORMATTERS[fmt]())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    # APScheduler logs every job run at INFO (the sweep runs every few seconds):
    # keep that for DEBUG, so INFO stays about what an operator acts on.
    quiet = logging.DEBUG if root.level <= logging.DEBUG else logging.WARNING
    logging.getLogger("apscheduler").setLevel(quiet)
    return handler
