"""Checking a report against the budgets its spec states."""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

from cnnsize.errors import Problem, UsageError
from cnnsize.report import Report
from cnnsize.schema import Budgets, Spec
from cnnsize.shapes import shape_text
from cnnsize.units import human_bytes, human_count

if TYPE_CHECKING:  # the planner is imported only when a spec has a memory budget
    from cnnsize.memory_report import Footprint, MemoryReport

# budget field -> (what it limits, the report's figure, how to show it)
LIMITS: dict[str, tuple[str, Callable[[Report], int], Callable[[int], str]]] = {
    "params": ("trainable parameters", lambda r: r.totals.params, human_count),
    "non_trainable_params": ("non-trainable parameters", lambda r: r.totals.non_trainable_params, human_count),
    "macs": ("MACs", lambda r: r.totals.macs, human_count),
    "flops": ("FLOPs", lambda r: r.totals.flops, human_count),
    "activation_memory": ("activation memory", lambda r: r.totals.activation_bytes, human_bytes),
    "param_memory": ("parameter memory", lambda r: r.totals.param_bytes, human_bytes),
    "train_memory": ("training memory", lambda r: _training(r).total_bytes, human_bytes),
    "inference_memory": ("inference memory", lambda r: _memory(r).inference.total_bytes, human_bytes),
}
MEMORY_BUDGETS = ("train_memory", "inference_memory")


def _memory(report: Report) -> "MemoryReport":
    assert report.memory is not None, "check_budgets attaches the memory section for memory budgets"
    return report.memory


def _training(report: Report) -> "Footprint":
    training = _memory(report).training
    assert training is not None, "an untrainable precision is reported before its training memory is asked"
    return training


def check_budgets(spec: Spec, report: Report) -> list[Problem]:
    """One problem per budget the report exceeds (and for an output shape that differs)."""
    budgets = spec.budgets
    if budgets is None:
        return []
    if report.memory is None and any(getattr(budgets, field) is not None for field in MEMORY_BUDGETS):
        from cnnsize.planner import with_memory

        try:
            report = with_memory(spec, report, amp=budgets.amp, optimizer=budgets.optimizer)
        except UsageError as error:  # mixed precision with a dtype other than float32
            return [Problem(spec.locate(("budgets", "amp")), str(error))]
    problems = []
    for field, (what, figure, show) in LIMITS.items():
        limit = getattr(budgets, field)
        if limit is None:
            continue
        if field == "train_memory" and not _memory(report).trainable:
            reason = str(_memory(report).untrainable)
            problems.append(Problem(spec.locate(("budgets", field)), f"{reason}; budget inference_memory instead"))
            continue
        actual = figure(report)
        if actual > limit:
            batch = (
                f" at batch size {report.batch_size}"
                if field not in ("params", "non_trainable_params", "param_memory")
                else ""
            )
            if field in MEMORY_BUDGETS:
                batch += _memory_setting(budgets, field)
            problems.append(
                Problem(
                    spec.locate(("budgets", field)),
                    f"{what} over budget{batch}: {actual:,} ({show(actual)}) > {limit:,} ({show(limit)})",
                )
            )
    if budgets.output_shape is not None:
        where = spec.locate(("budgets", "output_shape"))
        expected = shape_text(tuple(budgets.output_shape))
        if report.output_shape is None:
            names = ", ".join(name for name, _ in report.outputs)
            problems.append(Problem(where, f"the network has {len(report.outputs)} outputs ({names}); "
                                           "output_shape checks a network of one"))  # fmt: skip
        elif tuple(budgets.output_shape) != report.output_shape:
            problems.append(
                Problem(
                    where,
                    f"the network ends with shape {shape_text(report.output_shape)}, but the budget expects {expected}",
                )
            )
    return problems


def _memory_setting(budgets: Budgets, field: str) -> str:
    """` (adam, bf16 mixed precision)`: what a memory budget was counted with, where it says more
    than the defaults."""
    parts: list[str] = [budgets.optimizer] if field == "train_memory" else []
    parts += [f"{budgets.amp} mixed precision"] if budgets.amp else []
    return f" ({', '.join(parts)})" if parts else ""
