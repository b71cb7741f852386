import numpy as np
import pytest


def blobs(n: int = 600, d: int = 8, k: int = 4, seed: int = 0, spread: float = 0.6) -> np.ndarray:
    """ReLU'd Gaussian blobs with varied scale: activation-like points with a spread of norms."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(k, d)) * 2.0
    lab = rng.integers(0, k, n)
    scale = rng.uniform(0.5, 1.5, size=(n, 1))
    return np.maximum(centres[lab] + rng.normal(size=(n, d)) * spread * scale, 0) * scale, lab


@pytest.fixture(scope="session")
def blob_data():
    return blobs()
