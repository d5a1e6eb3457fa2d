"""Shared fixtures."""

from __future__ import annotations

import pytest
from oracle import spec_of


@pytest.fixture
def make_spec():
    """`make_spec({...})`: a spec from plain data, read as the YAML a user would write."""
    return spec_of


@pytest.fixture
def one_torch_thread():
    """Run with one torch thread: tests of many tiny tensors gain nothing from threads, and on a
    busy machine threads that wait for one another make them several times slower."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
