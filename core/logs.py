"""Structured logs: one JSON object per line, for every program (``--log-level`` sets the level)."""

from __future__ import annotations

import json
import logging


class JsonFormatter(logging.Formatter):
    """Formats a record as one JSON line: time, level, logger, the ``fields`` given once (e.g. the
    worker index), the message, and the traceback when there is one. Quotes and newlines in a
    message stay valid JSON."""

    def __init__(self, **fields: object) -> None:
        super().__init__()
        self.fields = fields

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {"time": self.formatTime(record), "level": record.levelname, "logger": record.name, **self.fields,
                                    "message": record.getMessage()}
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def configure_logging(level: str, **fields: object) -> None:
    """Send this process's logs to stderr as JSON lines at ``level`` (DEBUG, INFO, WARNING, ERROR)."""
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter(**fields))
    logging.basicConfig(level=level.upper(), handlers=[handler], force=True)
