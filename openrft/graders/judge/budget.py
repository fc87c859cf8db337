"""A cap on judge tokens for a grading run or a whole job (issue 4, cost control).

One `JudgeBudget` is shared by every judge call of a run: put it on the context as
`ctx.extras["judge_budget"]`. A job that grades in several runs gives each run's budget the
job's budget as `parent`, so a charge counts against both. Only tokens the judge really spent
are charged (a cache hit costs nothing). When a budget runs out, the next call, or the call
that crossed the line, raises `BudgetExceededError`: the engine lets it through, so the run
stops with a clear message instead of scoring the remaining samples 0.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from openrft.errors import BudgetExceededError

if TYPE_CHECKING:
    from openrft.graders.context import GraderContext

log = logging.getLogger(__name__)
EXTRAS_KEY = "judge_budget"


class JudgeBudget:
    def __init__(
        self,
        max_tokens: int,
        *,
        name: str = "grading run",
        parent: JudgeBudget | None = None,
        on_usage: Callable[[JudgeBudget], None] | None = None,
    ):
        if max_tokens < 0:
            raise ValueError("max_tokens must be >= 0")
        self.max_tokens = max_tokens
        self.name = name
        self.parent = parent
        self.on_usage = on_usage
        """Called after every charge, with this budget (for progress bars and job events)."""
        self.used = 0
        """Judge tokens (prompt + completion) charged so far."""
        self._logged_tenth = 0

    @property
    def remaining(self) -> int:
        return max(0, self.max_tokens - self.used)

    @property
    def exceeded(self) -> bool:
        return self.used >= self.max_tokens

    def check(self) -> None:
        """Raise before a call when this budget (or its parent's) is already used up."""
        if self.exceeded:
            raise self._error()
        if self.parent is not None:
            self.parent.check()

    def charge(self, tokens: int, model: str) -> None:
        """Count tokens a judge call spent; raise when that took the budget past its cap."""
        self.used += tokens
        tenth = self.used * 10 // self.max_tokens if self.max_tokens else 10
        if tenth > self._logged_tenth:
            self._logged_tenth = tenth
            log.info("judge budget of the %s: %d / %d tokens used", self.name, *self._counts())
        log.debug("judge %s spent %d tokens (%s)", model, tokens, self.name)
        if self.on_usage is not None:
            self.on_usage(self)
        if self.parent is not None:
            self.parent.charge(tokens, model)
        if self.used > self.max_tokens:
            raise self._error()

    def _counts(self) -> tuple[int, int]:
        return self.used, self.max_tokens

    def _error(self) -> BudgetExceededError:
        return BudgetExceededError(
            f"judge token budget of the {self.name} exceeded: {self.used} of {self.max_tokens} "
            "tokens used; raise the budget or grade fewer samples",
            code="judge_budget_exceeded",
        )


def budget_of(ctx: GraderContext) -> JudgeBudget | None:
    """The run's budget from `ctx.extras`, or None when the run is uncapped."""
    budget = ctx.extras.get(EXTRAS_KEY)
    return budget if isinstance(budget, JudgeBudget) else None
