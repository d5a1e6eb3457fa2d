"""Loading a spec from a file, from YAML text, or from the zoo by a model's name."""

from __future__ import annotations

import os
from typing import Union

from cnnsize.errors import PathArgumentError, Problem, SpecError
from cnnsize.schema import Spec, parse_spec
from cnnsize.yamlio import parse_text, read_file


def load(source: Union[str, "os.PathLike[str]"]) -> Spec:
    """A spec from a path (`str` or `PathLike`), from YAML text, or from the zoo.

    A string is read as YAML text when it holds a newline or a `:` and names no existing file; a
    bare name that is no file is a model of the zoo (`resnet50`); otherwise it is a path.
    """
    if isinstance(source, str) and not os.path.exists(source):
        if "\n" in source or ":" in source:
            return parse_spec(parse_text(source))
        from cnnsize import zoo

        model = zoo.spec_file(source)
        if model is not None:
            return parse_spec(read_file(model))
        if os.sep not in source and "." not in source:
            try:
                return parse_spec(read_file(source))
            except PathArgumentError as error:
                raise PathArgumentError(
                    Problem(p.location, p.message + zoo.hint(source)) for p in error.problems
                ) from None
    return parse_spec(read_file(source))


__all__ = ["SpecError", "load"]
