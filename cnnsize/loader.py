"""Loading a spec from a file, from YAML text, or from the zoo by a model's name."""

from __future__ import annotations

import os
from dataclasses import replace
from typing import Any, Mapping, Optional, Union

from cnnsize.errors import PathArgumentError, Problem, SpecError, UsageError
from cnnsize.schema import Spec, parse_spec
from cnnsize.yamlio import parse_bytes, parse_text, read_file


def load(source: Union[str, "os.PathLike[str]"], *, params: Optional[Mapping[str, Any]] = None) -> Spec:
    """A spec from a path (`str` or `PathLike`), from YAML text, or from the zoo.

    A string is read as YAML text when it holds a newline or a `:` and names no existing file; a
    bare name that is no file is a model of the zoo (`resnet50`); otherwise it is a path. Anything
    but a `str` or a `PathLike` of `str` is a `TypeError`.

    `params` set the spec's parameters (its `params:`), as `--set` does: `load("resnet18",
    params={"num_classes": 21})`. A name the spec does not declare, or a value no parameter takes
    (a number, true or false, a string, or a list of these), is an `OverrideError`.
    """
    _check_source(source, "load", "a path (str or os.PathLike[str]) or YAML text")
    _check_params(params, "load")
    if isinstance(source, str) and not os.path.exists(source) and ("\n" in source or ":" in source):
        return parse_spec(parse_text(source), params)
    return load_path(source, params=params)


def load_path(source: Union[str, "os.PathLike[str]"], *, params: Optional[Mapping[str, Any]] = None) -> Spec:
    """A spec from a path, `-` (standard input) or the name of a model of the zoo, never from YAML
    text: what the command line reads (`cnnsize check missing:file.yaml` is a missing file).

    A bare name (no directory, no extension) that names no file is a model of the zoo. `params`
    set the spec's parameters, as in `load`.
    """
    _check_source(source, "load_path", "a path (str or os.PathLike[str])")
    _check_params(params, "load_path")
    if isinstance(source, str) and source != "-" and not os.path.exists(source):
        from cnnsize import zoo

        model = zoo.spec_file(source)
        if model is not None:  # named portably, `zoo:resnet50`, never by where cnnsize is installed
            with open(model, "rb") as file:
                return parse_spec(parse_bytes(file.read(), f"{zoo.PREFIX}{source}"), params)
        if os.sep not in source and "/" not in source and "." not in source:
            try:
                return parse_spec(read_file(source), params)
            except PathArgumentError as error:
                raise PathArgumentError(
                    Problem(p.location, p.message + zoo.hint(source)) for p in error.problems
                ) from None
    return parse_spec(read_file(source), params)


def load_argument(
    source: str, input: Optional[tuple[int, ...]] = None, params: Optional[Mapping[str, Any]] = None
) -> Spec:
    """A command-line SPEC (`load_path`), with its parameters set where `--set` gave values, and its
    input replaced where `--input` gave one."""
    spec = load_path(source, params=params)
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


def _check_params(params: object, function: str) -> None:
    """A clear `TypeError` for `params` that are not a mapping of names (the values are checked
    against the spec's parameters when it is read)."""
    if params is None:
        return
    if not isinstance(params, Mapping):
        what = type(params).__name__
        raise TypeError(f"{function}() argument 'params' must be a mapping of names to values, not {what}")
    for name in params:
        if not isinstance(name, str):
            what = f"{type(name).__name__} {name!r}"
            raise TypeError(f"{function}() argument 'params' maps names (str) to values, not {what}")


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
