"""Every number the job's events, the eval reports and the demo show, defined in one place.

Each `Measure` says what a reported key measures: which split it is over, which grader scored
it, how the answers were drawn (greedy or sampled, at what temperature) and how many samples
it averages. `docs/evals.md` carries this registry as a table (`markdown_table`, checked by a
test), the eval tables take their column labels from it (`label`), and the HTML eval report
lists the definitions of the columns it shows (`definitions`).
"""

from __future__ import annotations

from dataclasses import dataclass

from openrft.graders import EVENT_ERROR_FLAGS


@dataclass(frozen=True)
class Measure:
    key: str
    """The name in a metrics event's `data`, or in an eval report's JSON."""
    label: str
    """How a table or summary labels the number."""
    split: str
    grader: str
    decoding: str
    samples: str
    what: str


_JOB = "the job's grader"
_TRAIN_DRAW = "sampled at the job's settings.temperature (default T=1.0)"
_VALID_DRAW = "sampled at the job's settings.temperature (default T=1.0)"
_STEP = "the step's batch_size prompts × 8·compute_multiplier answers each"
_VALID = "every validation row × eval_samples answers (default 1)"
_EVAL_GRADER = "--grader of `openrft eval` / `gate`"
_EVAL_DRAW = "`--temperature` (greedy at 0, sampled above; default 1.0), `--seed`"
_EVAL_N = "every row × `--samples` answers"

_SPLIT_ROWS = {
    "train": ("train", _TRAIN_DRAW, _STEP),
    "valid": ("validation", _VALID_DRAW, _VALID),
}


def _job(key: str, label: str, split: str, what: str, grader: str = _JOB) -> Measure:
    where, drawn, samples = _SPLIT_ROWS[split]
    return Measure(key, label, where, grader, drawn, samples, what)


def _eval(key: str, label: str, what: str, samples: str = _EVAL_N) -> Measure:
    return Measure(key, label, "the eval file", _EVAL_GRADER, _EVAL_DRAW, samples, what)


def _split_measures(split: str) -> list[Measure]:
    name = "train" if split == "train" else "validation"
    out = [
        _job(f"{split}_reward_mean", f"{name} reward", split,
             "mean reward the grader gave the answers"),
        _job(f"{split}_reasoning_tokens_mean", f"{name} thinking tokens/answer", split,
             "completion tokens in a thinking section, per answer"),
        _job(f"{split}_reasoning_tokens_count", f"{name} thinking tokens", split,
             "completion tokens in a thinking section, summed"),
        _job(f"{split}_execution_latency_mean", f"{name} grading seconds", split,
             "mean seconds the grader took per answer"),
    ]  # fmt: skip
    for kind in ("prompt", "completion"):
        out += [
            _job(f"{split}_{kind}_tokens_count", f"{name} judge {kind} tokens", split,
                 f"{kind} tokens a model grader's judge spent, summed"),
            _job(f"{split}_{kind}_tokens_mean", f"{name} judge {kind} tokens/prompt", split,
                 f"{kind} tokens a model grader's judge spent, per prompt"),
        ]  # fmt: skip
    for flag in EVENT_ERROR_FLAGS:
        words = flag.replace("_", " ")
        out += [
            _job(f"{split}_{flag}_count", f"{name} {words}s", split,
                 f"answers whose grade carries the {flag} flag"),
            _job(f"{split}_{flag}_mean", f"{name} {words} rate", split,
                 f"share of answers whose grade carries the {flag} flag"),
        ]  # fmt: skip
    return out


def _tool_measures(split: str) -> list[Measure]:
    """A job with tools (`method.reinforcement.tools`): the metrics event's `tools` section."""
    name = "train" if split == "train" else "validation"
    episodes = "every episode of the split, dropped ones included"
    return [
        _job(f"{split}_tool_calls_per_rollout_mean", f"{name} tool calls/rollout", split,
             f"tool calls the model made per episode, over {episodes}"),
        _job(f"{split}_tool_latency_mean", f"{name} tool seconds", split,
             "mean seconds a tool call took to answer, retries included"),
        _job(f"{split}_tool_latency_p95", f"{name} tool seconds p95", split,
             "95th-percentile (nearest rank) seconds a tool call took to answer"),
        _job(f"{split}_tool_errors_count", f"{name} tool errors", split,
             "tool calls that failed (a 4xx shown to the model, a timeout, an oversized "
             "answer, a 5xx after its retries)"),
        _job(f"{split}_tool_call_tokens_mean", f"{name} tokens/tool call", split,
             "tokens of the tool message the model read, per tool call"),
        _job(f"{split}_dropped_rollouts_count", f"{name} dropped rollouts", split,
             "episodes dropped because a tool kept answering 5xx: never graded, no part of "
             "the advantage, not in the reward mean"),
    ]  # fmt: skip


_EVENTS = [
    *_split_measures("train"),
    *_split_measures("valid"),
    *_tool_measures("train"),
    *_tool_measures("valid"),
    _job("train_mean_reward", "train reward (legacy key)", "train",
         "= train_reward_mean, the flat key third-party pollers read"),
    _job("full_valid_mean_reward", "validation reward (legacy key)", "valid",
         "= valid_reward_mean, the flat key third-party pollers read; null off validation steps"),
    _job("full_valid_mean_parse_error", "validation parse error rate", "valid",
         "share of validation answers the grader could not parse"),
    _job("reasoning_tokens_mean", "train thinking tokens/answer (legacy key)", "train",
         "= train_reasoning_tokens_mean"),
    _job("completion_tokens_mean", "train completion tokens/answer", "train",
         "completion tokens the policy drew, per answer"),
    _job("valid_completion_tokens_mean", "validation completion tokens/answer", "valid",
         "completion tokens the policy drew, per answer"),
    _job("mean_unresponsive_rewards", "unresponsive reward (always null)", "train",
         "kept for OpenAI's shape; openrft has no unresponsive-sample reward"),
    _job("errored_samples", "train errored answers", "train",
         "answers whose grade failed (counted as reward 0)"),
    _job("train_sampled_token_nll_mean", "train token NLL", "train",
         "mean negative log-likelihood of the drawn tokens (an entropy estimate)"),
    _job("valid_eval_mean_score", "validation eval-grader score", "valid",
         "mean score of the job's eval_grader on the validation answers the reward graded",
         grader="the job's eval_grader (not the reward)"),
    Measure("judge_check_spearman", "judge-check Spearman ρ (labelled rows)",
            "settings.judge_check.rows (human-labelled, not the validation split)",
            "the job's grader (its model grader) against the human scores", "-",
            "every labelled row, once per validation",
            "rank agreement of the job's judge with the people's scores; null off validation "
            "steps"),
    _job("train_prompt_tokens", "train judge prompt tokens (per judge model)", "train",
         "prompt tokens each judge model spent, summed"),
    _job("train_completion_tokens", "train judge completion tokens (per judge model)", "train",
         "completion tokens each judge model spent, summed"),
    _job("train_cached_tokens", "train judge cached tokens (per judge model)", "train",
         "cached prompt tokens each judge model reported, summed"),
    _job("eval_prompt_tokens", "validation judge prompt tokens (per judge model)", "valid",
         "prompt tokens each judge model spent, summed"),
    _job("eval_completion_tokens", "validation judge completion tokens (per judge model)",
         "valid", "completion tokens each judge model spent, summed"),
    _job("eval_cached_tokens", "validation judge cached tokens (per judge model)", "valid",
         "cached prompt tokens each judge model reported, summed"),
    Measure("step_seconds", "step timing (sampling, training, eval, full_iteration)",
            "train and validation", "-", "-", "one step", "wall-clock seconds per phase"),
]  # fmt: skip

_EVALS = [
    _eval("rows", "rows", "rows in the eval file (or slice)", "-"),
    _eval("mean_reward", "mean reward", "mean grader reward over every answer"),
    _eval("reward_ci", "95% CI", "95% confidence interval of the mean reward, clustered by row"),
    _eval("pass_rate", "pass rate", "share of answers the grader passes (its pass threshold)"),
    _eval("pass_at_k", "pass@k", "share of rows where at least one of the k answers passes"),
    _eval("prompt_tokens_per_item", "prompt tok/item", "prompt tokens the model was sent, per row"),
    _eval("completion_tokens_per_item", "completion tok/item",
          "completion tokens the model drew, per row"),
    _eval("judge_tokens", "judge tokens", "tokens a model grader's judge spent, summed"),
    _eval("latency_p50_s", "p50 s", "median seconds per answer request"),
    _eval("latency_p95_s", "p95 s", "95th-percentile seconds per answer request"),
    _eval("gain", "gain", "candidate mean reward − baseline mean reward (the gate's quality delta)",
          "every row × `--samples` answers, for each model"),
]  # fmt: skip

_DEMO = [
    Measure("baseline_valid", "baseline validation reward", "validation", _JOB, _VALID_DRAW,
            _VALID, "the job's step-0 valid_reward_mean, before any update (the demo's before)"),
    Measure("curve[].train", "train reward per step", "train", _JOB, _TRAIN_DRAW, _STEP,
            "the demo's reward curve: each step's train_mean_reward"),
    Measure("curve[].valid", "validation reward per step", "validation", _JOB, _VALID_DRAW,
            _VALID, "the demo's reward curve: each validation step's full_valid_mean_reward"),
    Measure("validation_runs[].passed", "exact answers, job's eval", "validation", _JOB,
            _VALID_DRAW, _VALID, "answers the grader passed in a validation step's eval run"),
]  # fmt: skip

_RUNS = [
    Measure("result_counts.passed", "validation answers passed (job's eval run)", "validation",
            _JOB, _VALID_DRAW, _VALID,
            "answers the job's grader passed in a validation step's Evals API run; for a "
            "0/1 grader, passed / total = that step's valid_reward_mean"),
    Measure("results[].score", "validation answer score (job's eval run)", "validation",
            "the job's grader, then its eval_grader", _VALID_DRAW, _VALID,
            "one answer's score in the run's output item; their mean over the run is the "
            "step's valid_reward_mean (job's grader) or valid_eval_mean_score (eval_grader)"),
]  # fmt: skip

MEASURES: dict[str, Measure] = {m.key: m for m in [*_EVENTS, *_EVALS, *_DEMO, *_RUNS]}


def label(key: str) -> str:
    """The label a table shows for `key` (a KeyError for a number nobody defined)."""
    return MEASURES[key].label


def definitions(keys: list[str]) -> list[dict[str, str]]:
    """One row per key: label, what it measures, split, grader, drawn how, over how many."""
    return [_row(MEASURES[key]) for key in keys]


def _row(m: Measure) -> dict[str, str]:
    return {"measure": m.label, "key": m.key, "what": m.what, "split": m.split,
            "grader": m.grader, "decoding": m.decoding, "samples": m.samples}  # fmt: skip


def markdown_table() -> str:
    """The registry as the Markdown table docs/evals.md carries."""
    rows = [_row(m) for m in MEASURES.values()]
    head = list(rows[0])
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in rows:
        cells = [row[c].replace("|", "\\|") for c in head]
        cells[1] = f"`{cells[1]}`"
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
