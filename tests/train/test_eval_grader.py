"""A reward-independent metric (`settings.eval_grader`): a planted hackable grader whose
validation reward climbs while the eval grader's score falls. The eval score is in every
validation's metrics event and checkpoint; keep-best and the fine-tuned model follow it, where
by reward they would follow the hack."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from openrft.models.chat import render_prompt
from openrft.models.completion import ChatPrompt, RolloutSettings
from openrft.models.registry import LoadedModel
from openrft.models.sampling import Rollouts
from openrft.train.checkpoints import CheckpointStore, ranked
from openrft.train.runner import run_job
from openrft.train.spec import Method
from tests.train.helpers import ListSink, demo_grader, demo_spec
from tests.train.test_completer import ScriptedCompleter, _rollouts

HACKABLE = {"type": "string_check", "name": "shouts", "input": "{{ sample.output_text }}",
            "reference": "!", "operation": "like"}  # fmt: skip
"""The training grader: any answer with a "!" in it scores 1, right or not."""
VALID = 8


class HackingCompleter(ScriptedCompleter):
    """Validation v (0 is the baseline) answers its first 2v prompts "wrong!" (the hack) and
    the rest with the reference: the reward climbs 0, ¼, ½, ¾ while exactness falls 1 … ¼."""

    validations = 0

    def rollouts(
        self, prompts: Sequence[ChatPrompt], n: int, seed: int, settings: RolloutSettings
    ) -> Rollouts:
        if len(prompts) != VALID or n != 1:  # a training step: half of each group hacks
            return super().rollouts(prompts, n, seed, settings)
        hacked = 2 * self.validations
        self.validations += 1
        questions = [str(p.messages[-1]["content"]) for p in prompts]
        texts = ["wrong!" if i < hacked else self.references[q] for i, q in enumerate(questions)]
        rendered = [render_prompt(self.loaded.tokenizer, p.messages, p.tools) for p in prompts]
        return _rollouts(self.loaded.tokenizer, rendered, texts, n)


def run_hacked(
    home: Path, workdir: Path, hook: Any = None, **settings: Any
) -> tuple[Any, ListSink]:
    """Three steps, each validated and checkpointed, `keep_best` 1, the hackable grader."""
    hp = {"compute_multiplier": 0.5, "eval_interval": 1}
    spec = demo_spec(3, batch=4, valid=VALID, settings={"keep_best": 1, **settings}, **hp)
    method = {"type": "reinforcement", "reinforcement": {"grader": HACKABLE,
              "hyperparameters": spec.reinforcement.hyperparameters.model_dump()}}  # fmt: skip
    spec = spec.model_copy(update={"method": Method.model_validate(method)})
    rows = [*spec.training_rows, *(spec.validation_rows or [])]
    references = {str(row["messages"][-1]["content"]): row["reference"] for row in rows}

    def completer(loaded: LoadedModel) -> HackingCompleter:
        return HackingCompleter(loaded, references, lambda j: j % 2 == 0)

    sink = ListSink()
    outcome = run_job(spec, workdir=workdir, home=home, events=sink, completer=completer,
                      on_validation=hook)  # fmt: skip
    assert outcome.status == "succeeded", outcome.error
    return outcome, sink


def test_the_eval_grader_keeps_and_picks_the_checkpoint_the_reward_would_not(
    home: Path, tmp_path: Path
) -> None:
    heard: list[tuple[int, list[float], list[float]]] = []

    def hook(step: int, answers: list[Any], eval_grades: list[Any] | None = None) -> None:
        assert eval_grades is not None
        heard.append((step, [a[2].reward for a in answers], [g.reward for g in eval_grades]))

    outcome, sink = run_hacked(home, tmp_path / "eval", hook, eval_grader=demo_grader())
    # The job's eval run gets both grades of the same samples: hacked ones 1 and 0.
    assert [step for step, _, _ in heard] == [0, 1, 2, 3]
    assert heard[1][1:] == ([1.0] * 2 + [0.0] * 6, [0.0] * 2 + [1.0] * 6)
    scores = [m["data"]["scores"] for m in sink.metrics()]
    assert [s["valid_reward_mean"] for s in scores] == [0.25, 0.5, 0.75]  # the hack pays
    assert [s["valid_eval_mean_score"] for s in scores] == [0.75, 0.5, 0.25]  # exactness falls
    assert [m["data"]["valid_eval_mean_score"] for m in sink.metrics()] == [0.75, 0.5, 0.25]
    assert scores[0]["eval_grader"] == {"name": "sorted_exactly", "type": "string_check"}
    # keep_best 1 by the eval score: step 1, besides the newest (step 3, a resume's start).
    kept = outcome.checkpoints
    assert [c["step"] for c in kept] == [1, 3]
    assert [c["metrics"]["valid_eval_mean_score"] for c in kept] == [0.75, 0.25]
    assert outcome.fine_tuned_model_path == kept[0]["path"]
    assert Path(outcome.fine_tuned_model_path).name == "step-1"
    # By reward the same run's checkpoints rank the other way round: the hack's step 3 first.
    stored = CheckpointStore(tmp_path / "eval" / "checkpoints").verified()
    assert [c.step for c in ranked(stored, "valid_reward_mean")] == [3, 1]
    assert [c.step for c in ranked(stored, "valid_eval_mean_score")] == [1, 3]


def test_without_an_eval_grader_the_reward_keeps_and_picks_the_hack(
    home: Path, tmp_path: Path
) -> None:
    outcome, sink = run_hacked(home, tmp_path)
    assert "valid_eval_mean_score" not in sink.metrics()[-1]["data"]["scores"]
    assert [c["step"] for c in outcome.checkpoints] == [3]  # step 3 is best and newest
    assert Path(outcome.fine_tuned_model_path).name == "step-3"


def test_a_reward_that_rises_while_the_eval_grader_falls_raises_its_alarm(
    home: Path, tmp_path: Path
) -> None:
    """The eval grader's mean is the metric of the `reward_vs_metric` alarm: validation reward
    0 → ½ while exactness 1 → ½ over the first three validations (baseline, steps 1 and 2)."""
    _, sink = run_hacked(home, tmp_path, eval_grader=demo_grader())
    raised = [e for e in sink.events if (e["data"] or {}).get("alarm") == "reward_vs_metric"]
    assert [e["step"] for e in raised] == [2, 3]
    assert raised[0]["level"] == "warn"
    assert raised[0]["data"]["reward"] == [0.0, 0.5]
    assert raised[0]["data"]["metric"] == [1.0, 0.5]
    assert "Alarm reward_vs_metric at step 2" in raised[0]["message"]


def test_without_an_eval_grader_the_metric_alarm_stays_quiet(home: Path, tmp_path: Path) -> None:
    _, sink = run_hacked(home, tmp_path)
    assert not [e for e in sink.events if (e["data"] or {}).get("alarm") == "reward_vs_metric"]
