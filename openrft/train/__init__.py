"""The RL fine-tuning engine: `runner.run_job(spec, ...)` runs one RFT job (GRPO) in-process.

    spec.py         the job contract: Hyperparameters, Method, TrainSettings, JobSpec; D4 split
    tools.py        an agentic job's tools: checked at the edge, header values redacted
    outcome.py      JobOutcome (typed, what run_job returns); announce(): the final events
    hparams.py      resolve_hyperparameters(): every "auto" resolved once (J2)
    setup.py        model (full or LoRA, fresh or resumed), optimizer, checkpoint files
    step.py         rollouts and grading for a step; the validation pass
    episodes.py     a job with tools draws episodes (openrft.agent) behind step's Agent seam
    rewards.py      the grader as the reward; J6's error-rate rule (J7's for dropped episodes)
    grpo.py         advantages and the loss
    metrics.py      OpenAI's metrics event `data` (J5)
    checkpoints.py  atomic checkpoints with manifests, retention (J3)
    events.py       EventSink, Control, the idempotent event journal
    naming.py       model ids (J4)
    distributed.py  one job on several processes (torchrun): shards, gathers, DDP
    sharded.py      FSDP2 around the model: sampling, checkpoints, resume

Imports torch: import the submodule you need.
"""
