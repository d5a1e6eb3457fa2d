"""Values as a spec holds them: which count as integers, and how to show one back to its writer."""

from __future__ import annotations

import json
from typing import Any

from cnnsize.errors import SpecPath


def show(value: Any) -> str:
    """A value as the user wrote it in YAML (true, null, 'text', [1, 2])."""
    if isinstance(value, str):
        return repr(value)
    try:
        return json.dumps(value)
    except (TypeError, ValueError):
        return repr(value)


def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def lookup(data: Any, path: SpecPath) -> Any:
    """The value at `path` in plain data (`('layers', 3, 'from')`), or None where there is none."""
    for key in path:
        if isinstance(data, dict) and isinstance(key, str):
            data = data.get(key)
        elif isinstance(data, list) and isinstance(key, int) and 0 <= key < len(data):
            data = data[key]
        else:
            return None
    return data
