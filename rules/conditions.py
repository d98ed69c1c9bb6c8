"""Compile `all` / `any` / `not` condition trees into evaluators that say why."""

from __future__ import annotations

from typing import Any

from rules import schema as s
from rules.operators import CompileEnv, EvalContext, Evaluator, OperatorError, compile_leaf

Loc = tuple[str | int, ...]


class ConditionError(ValueError):
    """A condition cannot be compiled; `loc` is relative to the condition's own node."""

    def __init__(self, error: OperatorError, loc: Loc) -> None:
        super().__init__(str(error))
        self.error = error
        self.loc = loc


def always(ctx: EvalContext) -> tuple[bool, str]:
    """The evaluator of a missing condition."""
    return True, "no condition"


def compile_condition(cond: Any, env: CompileEnv, loc: Loc = ()) -> Evaluator:
    """Compile a condition model (or None: always true); raise ConditionError with its loc."""
    if cond is None:
        return always
    if isinstance(cond, s.AllCond):
        parts = [compile_condition(c, env, (*loc, "all", i)) for i, c in enumerate(cond.all_)]
        return _all(parts)
    if isinstance(cond, s.AnyCond):
        parts = [compile_condition(c, env, (*loc, "any", i)) for i, c in enumerate(cond.any_)]
        return _any(parts)
    if isinstance(cond, s.NotCond):
        return _not(compile_condition(cond.not_, env, (*loc, "not")))
    try:
        return compile_leaf(cond, env)
    except OperatorError as exc:
        key_loc = (*loc, exc.key) if exc.key else loc
        raise ConditionError(exc, key_loc) from None


def _all(parts: list[Evaluator]) -> Evaluator:
    def run(ctx: EvalContext) -> tuple[bool, str]:
        whys = []
        for part in parts:
            ok, why = part(ctx)
            if not ok:
                return False, why
            whys.append(why)
        return True, " and ".join(whys)

    return run


def _any(parts: list[Evaluator]) -> Evaluator:
    def run(ctx: EvalContext) -> tuple[bool, str]:
        last = "no alternative"
        for part in parts:
            ok, why = part(ctx)
            if ok:
                return True, why
            last = why
        return False, f"none of {len(parts)} alternatives (last: {last})"

    return run


def _not(part: Evaluator) -> Evaluator:
    # The inner reason already states the fact that decides (`x is not 'a'` when it failed,
    # `x equals 'a'` when it held): wrapping it in "not (...)" would read as a double negation.
    def run(ctx: EvalContext) -> tuple[bool, str]:
        ok, why = part(ctx)
        return (not ok), why

    return run
