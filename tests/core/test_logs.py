"""Log lines are JSON whatever the message holds."""

from __future__ import annotations

import json
import logging
import sys

from core.logs import JsonFormatter


def test_quotes_newlines_and_tracebacks_stay_valid_json() -> None:
    message = 'bundle "2" refused:\n\tsha256 {mismatch} \\ done'
    try:
        raise ValueError("boom")
    except ValueError:
        record = logging.LogRecord("splitrank.cloud", logging.ERROR, __file__, 1, "%s", (message,), sys.exc_info())
    line = JsonFormatter(worker=3).format(record)
    assert "\n" not in line
    entry = json.loads(line)
    assert (entry["level"], entry["logger"], entry["worker"], entry["message"]) == ("ERROR", "splitrank.cloud", 3, message)
    assert "ValueError: boom" in entry["exception"] and entry["time"]
