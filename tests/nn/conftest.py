import pytest
import torch


@pytest.fixture(autouse=True)
def _one_thread():
    """Intra-op threads only slow the tiny tensors of these tests down (a lot, on a shared 2-core machine)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
