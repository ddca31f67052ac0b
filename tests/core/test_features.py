"""Request context checks shared by the device and the cloud."""

from __future__ import annotations

import pytest

from core.features import MAX_UNIX_TIME_S, request_context


@pytest.mark.parametrize("unix_time_s", [-1, MAX_UNIX_TIME_S + 1, 2**62])
def test_request_times_outside_the_calendar_are_refused_not_overflowed(unix_time_s: int) -> None:
    with pytest.raises(ValueError, match="unix_time_s"):
        request_context(unix_time_s, 1.0, 1, 1)


def test_request_time_zero_means_now_and_the_last_second_is_allowed() -> None:
    assert request_context(0, 1.0, 1, 1).shape == request_context(MAX_UNIX_TIME_S, 1.0, 1, 1).shape
