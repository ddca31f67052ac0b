"""The privacy option: clipping, noise of the stated scale, pseudonyms that need the secret."""

from __future__ import annotations

import math

import numpy as np
import pytest

from edge.privacy import PrivacyConfig, privatize, pseudonym


def test_noise_has_the_gaussian_mechanism_scale_and_clipping_holds() -> None:
    config = PrivacyConfig(epsilon=0.5, delta=1e-5, clip_norm=2.0)
    assert config.sigma == pytest.approx(2 * 2.0 * math.sqrt(2 * math.log(1.25 / 1e-5)) / 0.5)
    rng = np.random.default_rng(0)
    u = np.full(32, 10.0, np.float32)  # norm 56.6: clipped to 2 before the noise
    noisy = np.stack([privatize(u, config, rng) for _ in range(4000)])
    np.testing.assert_allclose(noisy.mean(0), u * 2.0 / np.linalg.norm(u), atol=4 * config.sigma / math.sqrt(4000))
    assert noisy.std(0).mean() == pytest.approx(config.sigma, rel=0.05)
    assert privatize(u, PrivacyConfig(), rng) is u  # epsilon 0: off


def test_pseudonyms_are_stable_and_need_the_secret() -> None:
    assert pseudonym("device-7", b"a") == pseudonym("device-7", b"a")
    assert pseudonym("device-7", b"a") != pseudonym("device-7", b"b")
    assert "device-7" not in pseudonym("device-7", b"a")
    with pytest.raises(ValueError):
        PrivacyConfig(epsilon=-1)
