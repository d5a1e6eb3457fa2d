"""`cnnsize export SPEC --torch`: the spec as PyTorch source code."""

from __future__ import annotations

from typing import Annotated

import typer

from cnnsize.commands.options import InputOption, OutputOption, SetOption, assignments, input_shape


def export(
    spec: Annotated[str, typer.Argument(metavar="SPEC", help="A spec file, a zoo model, or - for standard input.")],
    torch: Annotated[bool, typer.Option("--torch", help="Write PyTorch source: one nn.Module class.")] = False,
    output: OutputOption = None,
    input: InputOption = None,
    overrides: SetOption = None,
) -> None:
    """Write the spec as readable PyTorch source: one `nn.Module` (`Net`) with a named submodule per
    layer and a `forward` that follows the graph, needing torch and nothing of cnnsize to run.

    Its parameters, output shapes and FLOPs are the spec's; `cnnsize.build` makes the same modules.
    Example: cnnsize export resnet18 --torch -o resnet18.py
    """
    from cnnsize.cli import deliver, exit_on_user_error, refuse_output_over_a_spec, write_file
    from cnnsize.errors import CnnsizeError, UsageError
    from cnnsize.listing import emit
    from cnnsize.loader import load_argument

    refuse_output_over_a_spec(output, [spec])
    try:
        if not torch:
            raise UsageError("choose what to write: --torch (PyTorch source)")
        from cnnsize.backend import INSTALL_HINT, TorchMissing, require_torch

        try:
            require_torch()
        except TorchMissing:
            raise UsageError(f"cnnsize export --torch needs PyTorch: {INSTALL_HINT}") from None
        from cnnsize.backend.export import export_torch

        source = export_torch(load_argument(spec, input_shape(input), assignments(overrides)))
    except CnnsizeError as error:
        exit_on_user_error(error)
        raise  # pragma: no cover - exit_on_user_error always exits
    deliver(lambda: write_file(output, lambda out: emit(source, out)), 0)


__all__ = ["export"]
