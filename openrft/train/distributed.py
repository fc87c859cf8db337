"""One job on several processes: torch.distributed, launched by torchrun (nothing home-made).

Each rank runs the same `run_job` loop on its shard of the step's prompts: it samples and
grades its prompts' groups (a group, one prompt's n samples, stays on one rank), then every
rank all-gathers every rank's grades (`merged`), so advantages, the error-rate check and the
metrics are computed from the whole batch exactly as one process would. Gradients are
all-reduced by DistributedDataParallel (`settings.sharding: "ddp"`, the default) or sharded
with FSDP2's `fully_shard` (`"fsdp"`, for a model that does not fit one device; CUDA only).

The loss is the single-process one: token-averaged ("dapo") over the whole batch. Each rank
divides its summed token losses by the batch's token count (all-reduced) over the world size,
and DDP averages the ranks' gradients, which gives back sum / count. Every rank backpropagates
its micro-batches under `no_sync()` (ranks may have different numbers of them, or none) and
then one zero-loss pass in sync, which all-reduces the accumulated gradients.

Only rank 0 talks to the outside (events, checkpoints, hooks, the eval grader, control); the
decisions that change the loop (pause, cancel, an alarm's stop) are broadcast from it. The
weights and optimizer state are identical on every rank (DDP), so rank 0's checkpoint is plain
model and optimizer state: a job may resume under another process count.
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
from openrft.train.metrics import SplitStats
from openrft.train.spec import JobSpec, TrainSettings

__all__ = ["SINGLE", "World", "check_processes", "env_rank", "join"]

T = TypeVar("T")
TIMEOUT_ENV = "OPENRFT_DIST_TIMEOUT"
"""Seconds a collective waits for a peer before the rank fails (default 600): a rank that
died mid-step fails its job's attempt instead of hanging it."""
_SALT = 1_000_033  # a rank's sampling seed: the step's seed plus rank × this


def env_rank() -> int:
    """This process's rank as torchrun set it (0 outside torchrun)."""
    return int(os.environ.get("RANK", "0"))


def check_processes(settings: TrainSettings, batch_size: int | str) -> None:
    """`settings.processes`: at most one per GPU (CUDA) or per usable core (CPU); a given
    batch size must divide by it; `fsdp` needs CUDA. A 400 naming the setting otherwise."""
    processes, device = settings.processes, settings.device
    if processes == 1:
        return
    cuda = device.startswith("cuda") if device else torch.cuda.is_available()
    limit = torch.cuda.device_count() if cuda else usable_cores()
    where = "GPUs" if cuda else "usable CPU cores"
    param = "settings.processes"
    if processes > limit:
        text = f"Invalid '{param}': {processes} processes, but this host has {limit} {where}"
        raise InvalidRequestError(text, param=param)
    if isinstance(batch_size, int) and batch_size % processes:
        text = (
            f"Invalid '{param}': batch_size {batch_size} does not divide into {processes} "
            "processes (each process takes an equal share of every step's prompts)"
        )
        raise InvalidRequestError(text, param=param)
    if settings.sharding == "fsdp" and not cuda:
        raise _no_fsdp()


def _no_fsdp() -> InvalidRequestError:
    param = "settings.sharding"
    text = f"Invalid '{param}': 'fsdp' shards a model over CUDA devices; use 'ddp' on CPU"
    return InvalidRequestError(text, param=param)


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
        """`spec` with this rank's device (`device`), and its sharding checked against it."""
        device = self.device(spec.settings.device)
        if spec.settings.sharding == "fsdp" and self.size > 1 and device in (None, "cpu"):
            raise _no_fsdp()
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
        )

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

    def wrap(self, model: Any, sharding: str) -> Any:
        """The module to backpropagate through: the model itself, under DDP, or FSDP2."""
        if self.size == 1:
            self.model = model
        elif sharding == "fsdp":
            from torch.distributed.fsdp import fully_shard

            self.model = fully_shard(model)
        else:
            from torch.nn.parallel import DistributedDataParallel

            on_cuda = next(model.parameters()).device.type == "cuda"
            ids = [self.local_rank] if on_cuda else None
            # Buffers synced once, at init, not in every forward: that is a collective, and ranks
            # run different numbers of forwards (their micro-batches).
            self.model = DistributedDataParallel(model, device_ids=ids, forward_sync_buffers=False)
        return self.model

    def token_share(self, tokens: float) -> float:
        """The divisor of this rank's summed token losses: the batch's count / world size,
        which DDP's average over the ranks turns into the single-process token mean."""
        return self.total(tokens) / self.size

    @contextlib.contextmanager
    def accumulating(self) -> Iterator[None]:
        """Micro-batches backpropagated without DDP's all-reduce (`synced` follows them)."""
        no_sync = getattr(self.model, "no_sync", None)
        with no_sync() if no_sync is not None else contextlib.nullcontext():
            yield

    def synced(self, rollouts: Any, temperature: float) -> None:
        """One zero-loss pass in sync: DDP all-reduces the gradients accumulated before it."""
        if self.size == 1 or not hasattr(self.model, "no_sync"):
            return
        from openrft.train import grpo  # the loss's own log-probabilities (no import cycle)

        one = grpo.take(rollouts, torch.arange(1, device=rollouts.prompt_ids.device))
        (grpo.completion_logprobs(self.model, one, temperature).sum() * 0.0).backward()


SINGLE = World()


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
