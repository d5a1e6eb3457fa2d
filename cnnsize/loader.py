"""Loading a spec from a file or from YAML text."""

from __future__ import annotations

import os
from typing import Union

from cnnsize.schema import Spec, parse_spec
from cnnsize.yamlio import parse_text, read_file


def load(source: Union[str, "os.PathLike[str]"]) -> Spec:
    """A spec from a path (`str` or `PathLike`) or from YAML text.

    A string is read as YAML text when it holds a newline or a `:` and names no existing file;
    otherwise it is a path.
    """
    if isinstance(source, str) and not os.path.exists(source) and ("\n" in source or ":" in source):
        return parse_spec(parse_text(source))
    return parse_spec(read_file(source))
