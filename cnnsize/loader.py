"""Loading a spec from a file, from YAML text, or from the zoo by a model's name."""

from __future__ import annotations

import os
from dataclasses import replace
from typing import Optional, Union

from cnnsize.errors import PathArgumentError, Problem, SpecError, UsageError
from cnnsize.schema import Spec, parse_spec
from cnnsize.yamlio import parse_bytes, parse_text, read_file


def load(source: Union[str, "os.PathLike[str]"]) -> Spec:
    """A spec from a path (`str` or `PathLike`), from YAML text, or from the zoo.

    A string is read as YAML text when it holds a newline or a `:` and names no existing file; a
    bare name that is no file is a model of the zoo (`resnet50`); otherwise it is a path. Anything
    but a `str` or a `PathLike` of `str` is a `TypeError`.
    """
    _check_source(source, "load", "a path (str or os.PathLike[str]) or YAML text")
    if isinstance(source, str) and not os.path.exists(source) and ("\n" in source or ":" in source):
        return parse_spec(parse_text(source))
    return load_path(source)


def load_path(source: Union[str, "os.PathLike[str]"]) -> Spec:
    """A spec from a path, `-` (standard input) or the name of a model of the zoo, never from YAML
    text: what the command line reads (`cnnsize check missing:file.yaml` is a missing file).

    A bare name (no directory, no extension) that names no file is a model of the zoo.
    """
    _check_source(source, "load_path", "a path (str or os.PathLike[str])")
    if isinstance(source, str) and source != "-" and not os.path.exists(source):
        from cnnsize import zoo

        model = zoo.spec_file(source)
        if model is not None:  # named portably, `zoo:resnet50`, never by where cnnsize is installed
            with open(model, "rb") as file:
                return parse_spec(parse_bytes(file.read(), f"{zoo.PREFIX}{source}"))
        if os.sep not in source and "/" not in source and "." not in source:
            try:
                return parse_spec(read_file(source))
            except PathArgumentError as error:
                raise PathArgumentError(
                    Problem(p.location, p.message + zoo.hint(source)) for p in error.problems
                ) from None
    return parse_spec(read_file(source))


def load_argument(source: str, input: Optional[tuple[int, ...]] = None) -> Spec:
    """A command-line SPEC (`load_path`), with its input replaced where `--input` gave one."""
    spec = load_path(source)
    return spec if input is None else with_input(spec, input)


def with_input(spec: Spec, shape: tuple[int, ...]) -> Spec:
    """`spec` read again with its `input` replaced by `shape` (`--input 3,512,512`): every shape,
    count and check follows the new input; problems are located in the spec as before."""
    if spec.inputs is not None:
        names = ", ".join(spec.inputs)
        raise UsageError(f"--input replaces a spec's one `input`; {spec.name} has several ({names})")
    document = spec._document
    assert document is not None  # a loaded spec keeps its document (schema.require_spec)
    data = {**document.data, "input": list(shape)}
    return parse_spec(replace(document, data=data))


def _check_source(source: object, function: str, wanted: str) -> None:
    """A clear `TypeError` for what is neither text nor a path (`None`, bytes, a list)."""
    if isinstance(source, str):
        return
    if isinstance(source, os.PathLike):
        path = os.fspath(source)
        if isinstance(path, str):
            return
    raise TypeError(f"{function}() argument 'source' must be {wanted}, not {type(source).__name__}")


__all__ = ["SpecError", "load", "load_path"]
