"""`cnnsize import TARGET --input C,H,W`: a PyTorch module as a spec."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from cnnsize.commands.options import OutputOption, input_shape


def import_module(
    target: Annotated[
        str, typer.Argument(metavar="TARGET", help="path/to/file.py:ClassName or package.module:factory.")
    ],
    input: Annotated[
        str,
        typer.Option("--input", "-i", metavar="C,H,W", help="The input of one sample (required: fx traces shapes)."),
    ],
    args: Annotated[
        Optional[str], typer.Option("--args", metavar="JSON", help="Keyword arguments for the class or factory.")
    ] = None,
    no_fold: Annotated[
        bool,
        typer.Option("--no-fold", help="Write every layer flat: no repeated structures folded into `blocks:`."),
    ] = False,
    output: OutputOption = None,
) -> None:
    """Trace a PyTorch module with torch.fx (torch.export where fx cannot: Python branches on
    shapes) and write it as a spec (YAML): module paths as layer names, `from:` where a layer does
    not read the one before, functional calls (F.interpolate, chunk, view, x.mean((2, 3))...) as
    their kinds, a module called again as `{shares: <first call>}`; submodules of the same
    structure (up to channel counts, strides and other values) written once as a block and used
    with arguments, unless --no-fold. A node no kind stands for is listed with its source line and
    the import fails; so does a spec whose parameters, buffers or FLOPs differ from the module's.

    Example: cnnsize import mynet.py:Net --input 3,224,224 -o mynet.yaml
    """
    from cnnsize.cli import deliver, exit_on_user_error, write_file
    from cnnsize.errors import CnnsizeError, UsageError
    from cnnsize.listing import emit

    try:
        from cnnsize.backend import INSTALL_HINT, TorchMissing, require_torch

        try:
            require_torch()
        except TorchMissing:
            raise UsageError(f"cnnsize import needs PyTorch: {INSTALL_HINT}") from None
        from cnnsize.backend.importer import checked, load_target, threads_for, to_spec
        from cnnsize.yamlio import dump_text

        shape = input_shape(input)
        assert shape is not None
        _refuse_output_over_the_module(output, target)
        model = load_target(target, args)
        with threads_for(shape):
            data = to_spec(model, shape, target.rpartition(":")[2])
            checked(model, data)
        shown = "".join(c if c.isprintable() else repr(c)[1:-1] for c in target)  # one comment line
        header = f"# imported by cnnsize from {shown}\n"
        if not no_fold:
            from cnnsize.backend.import_blocks import module_classes
            from cnnsize.folding import folded

            data, why = folded(data, module_classes(model))
            header += f"# not folded into blocks: {why}\n" if why else ""
        text = header + dump_text(data)
    except CnnsizeError as error:
        exit_on_user_error(error)
        raise  # pragma: no cover - exit_on_user_error always exits
    deliver(lambda: write_file(output, lambda out: emit(text, out)), 0)


def _refuse_output_over_the_module(output: Optional[Path], target: str) -> None:
    """`-o models.py` for `models.py:Net` would write the spec over the module's own source (it did):
    a usage error before anything is traced."""
    from cnnsize.errors import UsageError

    where = target.rpartition(":")[0]
    if output is None or not where.endswith(".py"):
        return
    try:
        same = Path(where).exists() and Path(where).resolve() == output.resolve()
    except OSError:
        same = False
    if same:
        raise UsageError(f"--output {output} is the module's file {where}: writing there would replace it")


__all__ = ["import_module"]
