"""Which synthetic logs `splitrank bench train` trains on per size."""

from __future__ import annotations

from benchmarks.train import repeat_variants


def test_alternate_gives_each_size_one_log_and_both_kinds_across_sizes() -> None:
    chosen = [repeat_variants("alternate", position) for position in range(3)]
    assert chosen == [(True,), (False,), (True,)]


def test_both_gives_every_size_a_log_with_and_one_without_repeats() -> None:
    assert all(repeat_variants("both", position) == (True, False) for position in range(3))
    assert repeat_variants("with", 1) == (True,) and repeat_variants("without", 0) == (False,)
