"""The server freezes what it loaded so full collections skip it; a later load still frees a replaced version."""

from __future__ import annotations

import gc
import weakref

from cloud.serving.gc_freeze import freeze_loaded


class _Layer:
    """An object in a reference cycle, as a loaded model's layers are."""

    def __init__(self) -> None:
        self.owner = self


def test_frozen_objects_are_skipped_until_the_next_load_frees_them() -> None:
    try:
        layer = _Layer()
        alive = weakref.ref(layer)
        freeze_loaded()
        assert gc.get_freeze_count() > 0
        del layer
        gc.collect()
        assert alive() is not None, "a frozen cycle was collected: full collections still walk the loaded objects"
        freeze_loaded()  # the next model version loads
        assert alive() is None, "a replaced version held in a cycle leaked across loads"
    finally:
        gc.unfreeze()
