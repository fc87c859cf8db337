"""One job on several processes: torch.distributed, launched by torchrun (nothing home-made).

Each rank runs the same `run_job` loop on its shard of the step's prompts: it samples and
grades its prompts' groups (a group, one prompt's n samples, stays on one rank), then every
rank all-gathers every rank's grades (`merged`), so advantages, the error-rate check and the
metrics are computed from the whole batch exactly as one process would. Gradients are
all-reduced by DistributedDataParallel (`settings.sharding: "ddp"`, the default) or sharded
with FSDP2's `fully_shard` (`"fsdp"`, for a model that does not fit one device; `sharded`),
whose ranks sample the split model in lockstep (`sampling`).

The loss is the single-process one: token-averaged ("dapo") over the whole batch. Each rank
divides its summed token losses by the batch's token count (all-reduced) over the world size,
and DDP (or FSDP) averages the ranks' gradients, which gives back sum / count. Ranks may have
different numbers of micro-batches (or none): every rank runs as many passes as the busiest,
zero-loss ones to make up, in sync on the last pass only (`backward`).

Only rank 0 talks to the outside (events, checkpoints, hooks, the eval grader, control); the
decisions that change the loop (pause, cancel, an alarm's stop) are broadcast from it. The
weights and optimizer state are identical on every rank (DDP; FSDP gathers them), so rank 0's
checkpoint is plain model and optimizer state: a job may resume under another process count.
What it does not do: restart a dead rank (torchrun stops the others and the worker requeues
the job), or make a step's samples independent of the process count (each rank draws its
shard from the step's seed and its rank, so a resume under the same count repeats exactly).
"""

from __future__ import annotations

import contextlib
import datetime
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

import torch
import torch.distributed as dist

from openrft.errors import InvalidRequestError
from openrft.threads import usable_cores
from openrft.train.metrics import SplitStats, ToolStats
from openrft.train.spec import JobSpec, TrainSettings

__all__ = ["SINGLE", "World", "check_devices", "check_processes", "env_rank", "host_gpus", "join"]

T = TypeVar("T")
WORKER_GPUS_ENV = "OPENRFT_WORKER_GPUS"
"""On an API host: the CUDA GPUs each worker host has, which jobs' `settings.processes` and
`settings.devices` are checked against instead of this host's own (`host_gpus`)."""
TIMEOUT_ENV = "OPENRFT_DIST_TIMEOUT"
"""Seconds a collective waits for a peer before the rank fails (default 600): a rank that
died mid-step fails its job's attempt instead of hanging it."""
_SALT = 1_000_033  # a rank's sampling seed: the step's seed plus rank × this


def env_rank() -> int:
    """This process's rank as torchrun set it (0 outside torchrun)."""
    return int(os.environ.get("RANK", "0"))


def check_processes(settings: TrainSettings, batch_size: int | str) -> None:
    """`settings.processes`: at most one per GPU (CUDA) or per usable core (CPU); a given
    batch size must divide by it. A 400 naming the setting otherwise."""
    processes, device = settings.processes, settings.device
    if processes == 1:
        return
    gpus, host = host_gpus()
    cuda = device.startswith("cuda") if device else gpus > 0
    limit = gpus if cuda else usable_cores()
    where = f"{host} {limit} GPUs" if cuda else f"this host has {limit} usable CPU cores"
    param = "settings.processes"
    if processes > limit:
        text = f"Invalid '{param}': {processes} processes, but {where}"
        raise InvalidRequestError(text, param=param)
    if isinstance(batch_size, int) and batch_size % processes:
        text = (
            f"Invalid '{param}': batch_size {batch_size} does not divide into {processes} "
            "processes (each process takes an equal share of every step's prompts)"
        )
        raise InvalidRequestError(text, param=param)


def host_gpus() -> tuple[int, str]:
    """The GPUs a job may ask for, and whose they are: `OPENRFT_WORKER_GPUS` (the count each
    worker host has, set on an API host that has none itself), else this host's CUDA GPUs."""
    if (named := os.environ.get(WORKER_GPUS_ENV, "").strip()) != "":
        if not named.isdigit():
            raise InvalidRequestError(
                f"{WORKER_GPUS_ENV} must be a whole number ≥ 0 (the GPUs of each worker host), "
                f"not {named!r}"
            )
        return int(named), f"the worker hosts ({WORKER_GPUS_ENV}) have"
    return (torch.cuda.device_count() if torch.cuda.is_available() else 0), "this host has"


def check_devices(settings: TrainSettings, gpus: int | None = None) -> TrainSettings:
    """`settings.devices` against the CUDA GPUs jobs run on (`gpus`, default `host_gpus`): for
    a CPU job, on a host without CUDA, an index it lacks, more GPUs than it has, or a
    `processes` other than one per device, a 400 naming the setting. The settings back, with
    `processes` set to the number of devices when the job left it out."""
    devices, param = settings.devices, "settings.devices"
    if devices is None:
        return settings
    if settings.device is not None and settings.device != "cuda":
        text = (
            f"Invalid '{param}': it picks CUDA GPUs, so 'settings.device' must be left out "
            f"or 'cuda', not {settings.device!r}"
        )
        raise InvalidRequestError(text, param=param)
    gpus, host = (gpus, "this host has") if gpus is not None else host_gpus()
    if gpus == 0:
        text = f"Invalid '{param}': {host} no CUDA GPUs (leave it out to train on the CPU)"
        raise InvalidRequestError(text, param=param)
    count = len(devices) if isinstance(devices, list) else devices
    missing = [i for i in devices if i >= gpus] if isinstance(devices, list) else []
    if missing or count > gpus:
        what = f"device {missing[0]} does not exist" if missing else f"{count} GPUs asked"
        text = f"Invalid '{param}': {what}: {host} {gpus} GPU(s), 0 to {gpus - 1}"
        raise InvalidRequestError(text, param=param)
    if "processes" not in settings.model_fields_set:
        return settings.model_copy(update={"processes": count})
    if settings.processes != count:
        text = (
            f"Invalid '{param}': {count} GPU(s) for {settings.processes} process(es); a job "
            "runs one process per GPU (leave 'settings.processes' out, or make them agree)"
        )
        raise InvalidRequestError(text, param=param)
    return settings


@dataclass
class World:
    """This process's place in the job: rank `rank` of `size` (one process: rank 0 of 1)."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0
    model: Any = field(default=None, repr=False)
    """The module the trainer backpropagates through (DDP- or FSDP-wrapped; `wrap`)."""
    owned: bool = False
    """Whether `join` created the process group (and `leave` destroys it)."""

    @property
    def main(self) -> bool:
        return self.rank == 0

    def device(self, device: str | None) -> str | None:
        """This rank's device: CUDA's `cuda:LOCAL_RANK` (one GPU each); CPU as it is."""
        if self.size == 1 or device == "cpu":
            return device
        return f"cuda:{self.local_rank}" if torch.cuda.is_available() else "cpu"

    def placed(self, spec: JobSpec) -> JobSpec:
        """`spec` with this rank's device (`device`)."""
        device = self.device(spec.settings.device)
        if device == spec.settings.device:
            return spec
        settings = spec.settings.model_copy(update={"device": device})
        return spec.model_copy(update={"settings": settings})

    def shard(self, rows: list[T]) -> list[T]:
        """This rank's equal, contiguous share of a step's prompts (its groups, in order)."""
        if len(rows) % self.size:
            text = (
                f"Invalid 'settings.processes': batch_size {len(rows)} does not divide into "
                f"{self.size} processes"
            )
            raise InvalidRequestError(text, param="settings.processes")
        share = len(rows) // self.size
        return rows[self.rank * share : (self.rank + 1) * share]

    def split(self, rows: list[T]) -> list[T]:
        """This rank's contiguous share of the validation rows (shares may differ by one)."""
        bounds = [len(rows) * r // self.size for r in range(self.size + 1)]
        return rows[bounds[self.rank] : bounds[self.rank + 1]]

    def seed(self, seed: int) -> int:
        return seed if self.size == 1 else (seed + self.rank * _SALT) % (2**31 - 1)

    def merged(self, stats: SplitStats) -> SplitStats:
        """Every rank's stats as one split, in rank (= prompt) order: what one process saw."""
        if self.size == 1:
            return stats
        parts: list[Any] = [None] * self.size
        dist.all_gather_object(parts, stats)
        return SplitStats(
            results=[r for part in parts for r in part.results],
            completion_tokens=[n for part in parts for n in part.completion_tokens],
            prompts=sum(part.prompts for part in parts),
            parse_errors=sum(part.parse_errors for part in parts),
            answers=[a for part in parts for a in part.answers],
            reasoning_tokens=[n for part in parts for n in part.reasoning_tokens],
            tools=_summed([part.tools for part in parts if part.tools is not None]),
            dropped=[d for part in parts for d in part.dropped],
        )

    def gathered(self, items: list[T]) -> list[T]:
        """Every rank's `items`, concatenated in rank order."""
        if self.size == 1:
            return items
        parts: list[Any] = [None] * self.size
        dist.all_gather_object(parts, items)
        return [item for part in parts for item in part]

    def total(self, value: float) -> float:
        """`value` summed over the ranks."""
        if self.size == 1:
            return value
        summed = torch.tensor([value], dtype=torch.float64)
        dist.all_reduce(summed)
        return float(summed[0])

    def decided(self, value: T) -> T:
        """Rank 0's `value` on every rank: a decision that changes the loop (pause, stop)."""
        if self.size == 1:
            return value
        box = [value]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def share_judge_tokens(self, budget: Any, before: int) -> None:
        """A step's judge tokens, every rank's, on every rank's budget (`before`: at its start)."""
        if budget is not None and self.size > 1:
            budget.used = before + int(self.total(budget.used - before))

    @property
    def sharded(self) -> bool:
        """Whether the model is split across the ranks (FSDP2), not copied (DDP)."""
        return self.size > 1 and not hasattr(self.model, "no_sync")

    def wrap(self, model: Any, sharding: str) -> Any:
        """The module to backpropagate through: the model itself, under DDP, or FSDP2."""
        if self.size == 1:
            self.model = model
        elif sharding == "fsdp":
            from openrft.train import sharded

            self.model = sharded.shard(model)
        else:
            from torch.nn.parallel import DistributedDataParallel

            on_cuda = next(model.parameters()).device.type == "cuda"
            ids = [self.local_rank] if on_cuda else None
            # Buffers synced once, at init, not in every forward: that is a collective, and ranks
            # run different numbers of forwards (their rollouts' lengths).
            self.model = DistributedDataParallel(model, device_ids=ids, forward_sync_buffers=False)
        return self.model

    def sampling(self, loaded: Any) -> contextlib.AbstractContextManager[None]:
        """Around rollouts and validation samples: under FSDP, generate() on the sharded model,
        in lockstep across the ranks (`sampling.lockstep`: each layer gathered for its forward,
        so no rank holds the whole model); nothing to do otherwise."""
        if not self.sharded:
            return contextlib.nullcontext()
        from openrft.models.sampling import lockstep

        return lockstep(loaded)

    def backward(
        self, rollouts: Any, advantages: torch.Tensor, micro: int, temperature: float,
        nll: list[float],
    ) -> None:  # fmt: skip
        """This rank's rollouts' loss, backpropagated: each pass's token losses divided by the
        batch's token count over the world size (`token_share`), so that the ranks' averaged
        gradients are the single-process gradient. Every rank runs as many passes as the
        busiest one (DDP's all-reduce and FSDP's gathers pair passes across ranks; a rank short
        of micro-batches runs zero-loss passes), gradients synced on the last pass only."""
        from openrft.train import grpo  # the loss (grpo imports nothing from here)

        share = self.token_share(float(rollouts.completion_mask.sum()))
        if self.size == 1:
            grpo.accumulate_gradient(
                self.model, rollouts, advantages, micro, temperature, nll, share
            )
            return
        rows = advantages.nonzero().squeeze(-1)
        parts = [rows[start : start + micro] for start in range(0, len(rows), micro)]
        passes = max(1, int(self.most(len(parts))))
        for number in range(passes):
            with self._syncing(number == passes - 1):
                if number < len(parts):
                    index = parts[number]
                    part = grpo.take(rollouts, index)
                    grpo.accumulate_gradient(
                        self.model, part, advantages[index], micro, temperature, nll, share
                    )
                    continue
                first = torch.zeros(1, dtype=torch.long, device=rollouts.prompt_ids.device)
                logp = grpo.completion_logprobs(self.model, grpo.take(rollouts, first), temperature)
                (logp.sum() * 0.0).backward()

    def token_share(self, tokens: float) -> float:
        """The divisor of this rank's summed token losses: the batch's count / world size,
        which the average over the ranks turns into the single-process token mean."""
        return self.total(tokens) / self.size

    def most(self, value: float) -> float:
        """The largest `value` over the ranks."""
        largest = torch.tensor([value], dtype=torch.float64)
        dist.all_reduce(largest, op=dist.ReduceOp.MAX)
        return float(largest[0])

    @contextlib.contextmanager
    def _syncing(self, sync: bool) -> Iterator[None]:
        if hasattr(self.model, "no_sync"):  # DDP
            with contextlib.nullcontext() if sync else self.model.no_sync():
                yield
        else:  # FSDP2: unsharded gradients accumulate until the synced pass reduce-scatters
            self.model.set_requires_gradient_sync(sync)
            yield


SINGLE = World()


def _summed(parts: list[ToolStats]) -> ToolStats | None:
    """The ranks' tool use as one split's (None for a job without tools)."""
    if not parts:
        return None
    total = ToolStats()
    for part in parts:
        total += part
    return total


class Silent:
    """The event sink of ranks other than 0: only rank 0 writes the job's events."""

    def emit(self, *args: Any, **kwargs: Any) -> None:
        pass


def join(device: str | None) -> World:
    """This process's world: torchrun's (RANK, WORLD_SIZE, LOCAL_RANK; the process group made
    here unless the caller made one: gloo on CPU, nccl on CUDA), else one process."""
    if dist.is_available() and dist.is_initialized():
        return World(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", 0)))
    size = int(os.environ.get("WORLD_SIZE", "1"))
    if size == 1:
        return World()
    local = int(os.environ.get("LOCAL_RANK", "0"))
    cuda = device != "cpu" and torch.cuda.is_available()
    if cuda:
        torch.cuda.set_device(local)
    timeout = datetime.timedelta(seconds=float(os.environ.get(TIMEOUT_ENV, "600")))
    dist.init_process_group("nccl" if cuda else "gloo", timeout=timeout)
    return World(dist.get_rank(), dist.get_world_size(), local, owned=True)


def leave(world: World) -> None:
    if world.owned and dist.is_initialized():
        dist.destroy_process_group()
