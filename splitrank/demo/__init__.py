"""``splitrank demo``: the whole system on one machine, replaying real held-out traffic per policy."""
