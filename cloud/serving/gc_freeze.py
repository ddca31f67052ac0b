"""Keep Python's cyclic garbage collector off what a server loads once: TensorFlow, the models, gRPC.

A full (generation-2) collection walks every object the collector tracks, and no call is served while it
runs. With TensorFlow and a bundle loaded that walk took 170-200 ms on this machine, about three times in
each 10 s overload phase of ``splitrank bench cloud``: at a max batch of 64 the calls queued behind one put
the overload p99 near 190 ms (18-20x the half-load p99). ``gc.freeze()`` after a load moves everything alive
into a permanent generation that collections skip; in the same phases full collections then took 0.3-1.4 ms.
"""

from __future__ import annotations

import gc


def freeze_loaded() -> None:
    """Collect, then freeze every object alive now; call it after a model version loads. What an earlier call
    froze is unfrozen first, so a replaced version held in reference cycles is still freed (one full collection
    per load, beside the load's own seconds)."""
    gc.unfreeze()
    gc.collect()
    gc.freeze()
