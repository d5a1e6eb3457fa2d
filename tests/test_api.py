"""The Python API: `cnnsize.load`, `cnnsize.analyze` and the report objects, as a user calls them."""

from __future__ import annotations

import doctest
import inspect
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import cnnsize

ROOT = Path(__file__).resolve().parents[1]
TOY = ROOT / "specs" / "toy.yaml"
TOY_TEXT = TOY.read_text()


@pytest.mark.parametrize("source", [str(TOY), TOY, TOY_TEXT], ids=["str path", "Path", "YAML text"])
def test_load_from_path_or_text(source: object) -> None:
    spec = cnnsize.load(source)  # type: ignore[arg-type]
    assert isinstance(spec, cnnsize.Spec)
    assert spec.title == "cs231n-toy" and spec.input == (3, 32, 32) and len(spec.layers) == 5
    assert spec.file == (None if source is TOY_TEXT else str(TOY))


def test_analyze_defaults_and_totals() -> None:
    report = cnnsize.analyze(cnnsize.load(TOY))
    assert isinstance(report, cnnsize.Report)
    assert (report.batch_size, report.dtype) == (1, "float32")
    # conv 3x3, 3 -> 12 channels: 3*3*3*12 + 12 = 336; linear 3072 -> 10: 3072*10 + 10 = 30,730
    assert report.totals.params == 336 + 30_730
    # conv: 12*32*32 * 3*3*3 = 331,776; linear: 3072*10 = 30,720
    assert report.totals.macs == 331_776 + 30_720
    assert report.totals.param_bytes == 31_066 * 4
    assert report.output_shape == (10,)


def test_batch_and_dtype_scale_work_and_memory_not_parameters() -> None:
    one = cnnsize.analyze(cnnsize.load(TOY))
    eight = cnnsize.analyze(cnnsize.load(TOY), batch_size=8, dtype="float16")
    assert eight.totals.params == one.totals.params
    assert eight.totals.macs == 8 * one.totals.macs
    # activations: 8 samples at 2 bytes instead of 1 at 4 -> 4x
    assert eight.totals.activation_bytes == 4 * one.totals.activation_bytes
    assert eight.totals.param_bytes == one.totals.param_bytes // 2


def test_to_dict_round_trips_through_json() -> None:
    data = cnnsize.analyze(cnnsize.load(ROOT / "specs" / "small-resnet.yaml"), batch_size=4).to_dict()
    assert json.loads(json.dumps(data)) == data
    assert set(data) == {
        "name", "file", "input_shape", "output_shape", "inputs", "outputs", "batch_size", "dtype", "layers", "totals",
        "warnings", "provenance",
    }  # fmt: skip
    # the totals are the sums of the leaf layers
    for key in ("params", "non_trainable_params", "macs", "flops", "activation_bytes"):
        assert data["totals"][key] == sum(layer[key] for layer in data["layers"])
        assert isinstance(data["totals"][key], int)


def test_spec_errors_carry_line_and_column() -> None:
    text = "input: [3, 8, 8]\nlayers:\n  - {type: conv2d, out_channels: 4, kernal_size: 3}\n"
    with pytest.raises(cnnsize.SpecError) as caught:
        cnnsize.load(text)
    problems = caught.value.problems
    assert all(isinstance(p, cnnsize.Problem) for p in problems)
    assert isinstance(caught.value, cnnsize.CnnsizeError)
    where = {(p.location.line, p.location.column) for p in problems}
    assert (3, 37) in where  # the misspelled key `kernal_size`
    assert any("unknown field 'kernal_size'" in p.message for p in problems)


def test_bad_batch_size_is_a_usage_error() -> None:
    with pytest.raises(cnnsize.CnnsizeError, match="batch size must be a positive integer"):
        cnnsize.analyze(cnnsize.load(TOY), batch_size=0)


@pytest.mark.parametrize("call", ["analyze", "plan", "with_memory", "build"])
@pytest.mark.parametrize(
    "given", [None, b"input: [3, 8, 8]", "specs/toy.yaml", {"input": [3, 8, 8], "layers": ["relu"]}]
)
def test_a_spec_argument_of_another_type_is_a_type_error_naming_it(call: str, given: object) -> None:
    args = {"analyze": (given,), "plan": (given, 2**30), "with_memory": (given, None), "build": (given,)}[call]
    with pytest.raises(
        TypeError, match=f"^spec must be a cnnsize.Spec, as cnnsize.load gives; got {type(given).__name__}$"
    ):
        getattr(cnnsize, call)(*args)


def test_with_memory_names_a_report_of_another_type() -> None:
    spec = cnnsize.load("specs/toy.yaml")
    with pytest.raises(TypeError, match="^report must be a cnnsize.Report"):
        cnnsize.with_memory(spec, {"params": 1})


def test_a_spec_built_by_hand_is_a_clear_error_not_an_attribute_error() -> None:
    spec = cnnsize.Spec(input=[3, 8, 8], layers=[{"type": "relu"}])  # plain dicts, never read into kinds
    with pytest.raises(cnnsize.CnnsizeError, match="built by hand.*cnnsize.load"):
        cnnsize.analyze(spec)


def test_unknown_attribute() -> None:
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        cnnsize.nothing  # noqa: B018
    assert set(cnnsize.__all__) <= set(dir(cnnsize))


def _public() -> list[tuple[str, object]]:
    return [(name, getattr(cnnsize, name)) for name in cnnsize.__all__ if name != "__version__"]


@pytest.mark.parametrize(("name", "obj"), _public(), ids=[name for name, _ in _public()])
def test_public_names_are_documented_and_typed(name: str, obj: object) -> None:
    assert inspect.getdoc(obj), f"cnnsize.{name} has no docstring"
    functions = [obj] if inspect.isfunction(obj) else []
    if inspect.isclass(obj):
        functions += [
            member
            for attr, member in vars(obj).items()
            if not attr.startswith("_") and inspect.isfunction(member) and member.__module__.startswith("cnnsize")
        ]
        for attr, member in vars(obj).items():
            if isinstance(member, property) and not attr.startswith("_"):
                assert inspect.getdoc(member), f"cnnsize.{name}.{attr} has no docstring"
                functions.append(member.fget)
    for function in functions:
        assert inspect.getdoc(function), f"{function.__qualname__} has no docstring"
        hints = function.__annotations__  # names behind TYPE_CHECKING stay strings: present is what counts
        parameters = [p for p in inspect.signature(function).parameters if p not in ("self", "cls")]
        assert set(parameters) | {"return"} <= set(hints), f"{function.__qualname__} lacks type hints"


def test_package_is_marked_typed() -> None:
    assert (ROOT / "cnnsize" / "py.typed").is_file()
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    # shipped as package data (installed: see test_precommit_hook)
    assert "py.typed" in pyproject["tool"]["setuptools"]["package-data"]["cnnsize"]


def test_import_is_cheap_and_analysis_never_imports_torch() -> None:
    code = (
        "import sys, cnnsize\n"
        "heavy = [m for m in ('pydantic', 'rich', 'typer', 'torch') if m in sys.modules]\n"
        "cnnsize.analyze(cnnsize.load(sys.argv[1])).to_dict()\n"
        "print(heavy, 'torch' in sys.modules)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", code, str(TOY)], capture_output=True, text=True, env=env)
    assert done.stdout.strip() == "[] False", done.stderr


def test_the_documented_example_runs() -> None:
    """docs/api.md is run as a doctest from the repository root, as a new user would type it."""
    cwd = os.getcwd()
    os.chdir(ROOT)
    try:
        result = doctest.testfile(str(ROOT / "docs" / "api.md"), module_relative=False)
    finally:
        os.chdir(cwd)
    assert result.attempted >= 8
    assert result.failed == 0
