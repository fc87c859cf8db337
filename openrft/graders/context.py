"""What graders get injected: clients and sandboxes, never opened by the graders themselves.

Every field may be left None; the grader that needs it then builds the default from the
environment (`OPENRFT_JUDGE_BASE_URL`, `OPENRFT_EMBEDDINGS_BASE_URL`, the host's sandbox tier,
`OPENRFT_OUTBOUND_HOSTS`)
the first time it runs, and keeps it on the context for the rest of the run.

A server grades for many projects with one set of clients: `for_project` gives a view that
names the project (python-grader slots, the judge's `OpenRFT-Project` header, judge-cache keys)
and builds and keeps its clients on the context it came from, which alone closes them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # types only: `import openrft.graders` stays light
    from openrft.graders.embeddings import EmbeddingsClient
    from openrft.graders.endpoint_client import EndpointClient
    from openrft.graders.judge import JudgeClient
    from openrft.sandbox import SandboxPool


@dataclass
class GraderContext:
    sandbox: SandboxPool | None = None
    """The python-grader sandbox pool (`openrft.sandbox`)."""
    judge: JudgeClient | None = None
    """The judge client for score_model/label_model graders."""
    embeddings: EmbeddingsClient | None = None
    """The embeddings client for `text_similarity` with `cosine`."""
    endpoint: EndpointClient | None = None
    """The HTTP client of `endpoint` graders (allow-list, retries, rate limits)."""
    project: str = "default"
    """Whose grading this is: sandbox slots are never shared across projects."""
    python_timeout: float | None = None
    """Seconds per python-grader call (a job may set less than the default 120)."""
    extras: dict[str, Any] = field(default_factory=dict)
    """Room for per-run state (caches, budgets) owned by the grader types that use it."""
    shared: GraderContext | None = field(default=None, repr=False)
    """The context a `for_project` view came from: its clients live there."""

    def for_project(self, project: str) -> GraderContext:
        """This context's clients, grading for `project`."""
        root = self.root()
        return GraderContext(
            project=project,
            python_timeout=self.python_timeout,
            extras=self.extras,
            shared=root,
        )

    def root(self) -> GraderContext:
        """Where clients are built and kept: the shared context, or this one."""
        return self.shared if self.shared is not None else self

    async def aclose(self) -> None:
        """Close every injected resource that can be closed (clients, sandbox pools).

        A context is bound to the event loop its clients were first used on; whoever creates
        one closes it on that loop (`run_grader` and `grade_many` do so for the contexts they
        create themselves). A `for_project` view closes nothing: its clients are shared."""
        if self.shared is not None:
            return
        for resource in (self.embeddings, self.judge, self.endpoint, self.sandbox):
            if resource is not None:
                await resource.aclose()
