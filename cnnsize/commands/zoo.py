"""`cnnsize zoo`: the models of the zoo side by side, by year or by weighted depth (the "revolution
of depth": AlexNet 8 layers, VGG 19, GoogLeNet 22, ResNet 152)."""

from __future__ import annotations

import dataclasses
import json
import sys
from dataclasses import asdict, dataclass
from enum import Enum
from typing import IO, Annotated, Optional

import typer

from cnnsize.commands.options import Format, FormatOption


class Sort(str, Enum):
    year = "year"
    depth = "depth"


@dataclass(frozen=True)
class Entry:
    """One model's figures at batch size 1 in float32."""

    name: str
    year: int
    weighted_depth: int
    params: int
    macs: int
    activation_bytes: int


HEADER = ("Model", "Year", "Weighted depth", "Params", "MACs", "Activations")


def survey(sort: Sort = Sort.year) -> list[Entry]:
    """Every model of the zoo, analysed, oldest (or shallowest) first."""
    from cnnsize.depth import weighted_depth
    from cnnsize.engine import analyze
    from cnnsize.loader import load
    from cnnsize.zoo import MODELS

    entries = []
    for model in MODELS.values():
        report = analyze(load(model.name))
        totals = report.totals
        assert report.graph is not None
        depth = weighted_depth(report.graph)
        entries.append(Entry(model.name, model.year, depth, totals.params, totals.macs, totals.activation_bytes))
    key = (lambda e: (e.year, e.weighted_depth)) if sort == Sort.year else (lambda e: (e.weighted_depth, e.year))
    return sorted(entries, key=key)


def cells(entry: Entry) -> tuple[str, ...]:
    from cnnsize.units import human_bytes, human_count

    return (
        entry.name,
        str(entry.year),
        str(entry.weighted_depth),
        f"{entry.params:,} ({human_count(entry.params)})",
        f"{entry.macs:,} ({human_count(entry.macs)})",
        human_bytes(entry.activation_bytes),
    )


def show(entries: list[Entry], fmt: Format, out: IO[str]) -> None:
    from cnnsize.listing import Document, Listing, Text, emit, write

    if fmt == Format.json:
        emit(json.dumps([asdict(e) for e in entries], indent=2) + "\n", out)
        return
    title = "The zoo (224x224 inputs but lenet5's 32x32; MACs and activations at batch 1, float32)"
    listing = Listing(HEADER, [cells(e) for e in entries])
    fields = [f.name for f in dataclasses.fields(Entry)]
    csv_rows = [[getattr(e, name) for name in fields] for e in entries]
    write([Document([Text(title, bold=True), listing], fields, csv_rows)], fmt.value, out)


SortOption = Annotated[Sort, typer.Option("--sort", "-s", help="Order by the paper's year or by weighted depth.")]


NameArgument = Annotated[
    Optional[str], typer.Argument(metavar="NAME", help="Print this model's spec as YAML, to copy and edit.")
]


def command(name: NameArgument = None, sort: SortOption = Sort.year, fmt: FormatOption = Format.table) -> None:
    """List the zoo's models: year, weighted depth (conv and linear layers on the longest path),
    parameters, MACs and activation memory. Each name works as a SPEC for `report` and `check`;
    `cnnsize zoo NAME > my-net.yaml` gives that model's spec to edit."""
    from cnnsize.cli import deliver
    from cnnsize.commands.several import say
    from cnnsize.listing import emit
    from cnnsize.spelling import suggest
    from cnnsize.zoo import MODELS, spec_file

    if name is not None:
        path = spec_file(name)
        if path is None:
            say(f"error: no model of the zoo is called {name!r}{suggest(name, MODELS) or ' (see `cnnsize zoo`)'}")
            raise typer.Exit(2)
        with open(path, encoding="utf-8") as file:
            text = file.read()
        deliver(lambda: emit(text, sys.stdout))
        return
    entries = survey(sort)
    deliver(lambda: show(entries, fmt, sys.stdout))
