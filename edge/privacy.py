"""What leaves the device, made safer: Gaussian noise on the user embedding for differential privacy
(the Gaussian mechanism on an L2-clipped vector) and pseudonymous device and user ids."""

from __future__ import annotations

import hashlib
import hmac
import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class PrivacyConfig:
    """``epsilon`` 0 turns the noise off. Any one customer's embedding is clipped to ``clip_norm``, so two
    customers' embeddings differ by at most ``2 * clip_norm`` (the L2 sensitivity)."""

    epsilon: float = 0.0
    delta: float = 1e-5
    clip_norm: float = 2.0

    def __post_init__(self) -> None:
        if self.epsilon < 0 or not 0 < self.delta < 1 or self.clip_norm <= 0:
            raise ValueError("privacy: epsilon must be >= 0, delta within (0, 1), clip_norm > 0")

    @property
    def sigma(self) -> float:
        """Noise standard deviation per coordinate ((epsilon, delta)-DP per released embedding, epsilon < 1 for the classic bound)."""
        if self.epsilon == 0:
            return 0.0
        return 2 * self.clip_norm * math.sqrt(2 * math.log(1.25 / self.delta)) / self.epsilon


def privatize(user_embedding: np.ndarray, config: PrivacyConfig, rng: np.random.Generator) -> np.ndarray:
    """Clip to ``clip_norm`` and add Gaussian noise; returns the input unchanged when epsilon is 0."""
    if config.epsilon == 0:
        return user_embedding
    norm = float(np.linalg.norm(user_embedding))
    clipped = user_embedding * min(1.0, config.clip_norm / norm) if norm > 0 else user_embedding
    return (clipped + rng.normal(0.0, config.sigma, size=clipped.shape)).astype(np.float32)


def pseudonym(identifier: str, secret: bytes) -> str:
    """A stable id that cannot be turned back into ``identifier`` without the device's secret (HMAC-SHA256, 16 hex)."""
    return hmac.new(secret, identifier.encode(), hashlib.sha256).hexdigest()[:16]
