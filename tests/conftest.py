"""Shared fixtures."""

from __future__ import annotations

import pytest
from oracle import spec_of


@pytest.fixture
def make_spec():
    """`make_spec({...})`: a spec from plain data, read as the YAML a user would write."""
    return spec_of
