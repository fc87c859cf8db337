from openrft.train.hparams import resolve_hyperparameters
from openrft.train.naming import checkpoint_id, model_id
from openrft.train.spec import Hyperparameters, TrainSettings


def resolve(rows: int = 400, model: str = "openrft-tiny", **kw):  # type: ignore[no-untyped-def]
    settings = TrainSettings.model_validate(kw.pop("settings", {}))
    return resolve_hyperparameters(Hyperparameters(**kw), settings, train_rows=rows, model=model)


def test_auto_resolves_every_key_once_to_numbers() -> None:
    hp = resolve()
    assert hp.echo() == {
        "batch_size": 8,
        "learning_rate_multiplier": 1.0,
        "n_epochs": 4,
        "eval_interval": 33,
        "eval_samples": 1,
        "compute_multiplier": 1.0,
        "reasoning_effort": "medium",
    }
    assert (hp.samples_per_prompt, hp.learning_rate, hp.max_completion_tokens) == (8, 1e-4, 16)
    assert (hp.steps_per_epoch, hp.total_steps) == (50, 200)


def test_explicit_values_and_derived_settings() -> None:
    hp = resolve(
        rows=10,
        model="some/hf-model",
        batch_size=32,
        n_epochs=3,
        compute_multiplier=0.1,
        learning_rate_multiplier=2.0,
        reasoning_effort="high",
        settings={"lora_rank": 8},
    )
    assert hp.batch_size == 10  # never more prompts per step than rows
    assert hp.total_steps == 3
    assert hp.samples_per_prompt == 2  # 0.1 × 8 rounds to 1, clamped to 2
    assert hp.learning_rate == 2.0 * 1e-3  # LoRA base rate
    assert hp.max_completion_tokens == 512  # 256 × 2 for high effort
    assert resolve(compute_multiplier=10).samples_per_prompt == 64
    assert resolve(reasoning_effort="low").max_completion_tokens == 8


def test_model_ids_follow_j4() -> None:
    name = model_id("openrft-tiny", "acme", "demo", "ftjob-1")
    assert name.startswith("ft:openrft-tiny:acme:demo:") and len(name.split(":")[-1]) == 8
    assert name == model_id("openrft-tiny", "acme", "demo", "ftjob-1")
    assert model_id("m", None, None, "j").split(":")[2:4] == ["openrft", ""]
    assert checkpoint_id(name, 5) == name + ":ckpt-step-5"
