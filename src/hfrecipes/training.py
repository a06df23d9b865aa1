"""Trainer add-ons shared by recipes: a wall-clock training budget and language-model evaluation."""

from __future__ import annotations

import logging
import math
import time

from transformers import TrainerCallback
from transformers.trainer_callback import ExportableState

logger = logging.getLogger(__name__)

UNBOUNDED_STEPS = 10**9  # placeholder max_steps until the budget fixes the real one


class TimeBudget(TrainerCallback, ExportableState):
    """Fits training into ``minutes`` of wall time, on a machine whose speed may change during the run.

    After ``skip_steps`` warm-up steps (compilation, allocator) it times ``timing_steps`` steps and fixes a first
    total number of steps, so a warm-up given as a ratio starts at once. Then it re-times every ``recheck`` of the
    budget and, when the speed changed, re-targets the total so training still ends at the end of the budget. Each
    time the LR schedule (same type and warm-up rule as the Trainer's) is rebuilt over the new total, so it decays
    to the end of the budget. If the machine slows down so much that the run passes ``overrun`` x the budget, it
    stops there.
    Rank 0 decides, every ``timing_steps`` steps, and broadcasts, so every process stops at the same step. The
    total is saved in checkpoints: a resumed run keeps it (its wall clock restarts, so it does not re-time).
    """

    def __init__(
        self, minutes: float, skip_steps: int = 3, timing_steps: int = 10, progress=None, overrun=1.1, recheck=0.1
    ):
        self.minutes = minutes
        self.overrun = overrun
        self.recheck = recheck
        self.skip_steps = skip_steps
        self.timing_steps = timing_steps
        self.total_steps: int | None = None
        self.seconds_per_step: float | None = None
        self._progress = progress
        self._scheduler = None
        self._cap = None
        self._mark: tuple[int, float] | None = None  # (step, time) where the current timing window started
        self._resumed = False

    def state(self) -> dict:
        return {"args": {"minutes": self.minutes}, "attributes": {"total_steps": self.total_steps}}

    def on_train_begin(self, args, state, control, lr_scheduler=None, **kwargs):
        if not hasattr(lr_scheduler, "lr_lambdas"):
            raise ValueError(f"max_train_minutes needs a LambdaLR schedule; '{args.lr_scheduler_type}' is not one")
        self._scheduler = lr_scheduler
        self._cap = args.max_steps if 0 < args.max_steps < UNBOUNDED_STEPS else None
        self._t0 = time.perf_counter()
        saved = (state.stateful_callbacks or {}).get(type(self).__name__)
        if isinstance(saved, dict) and saved.get("attributes", {}).get("total_steps"):
            self._resumed = True
            self._fix(args, state, saved["attributes"]["total_steps"])  # resumed: keep the original schedule

    def on_step_end(self, args, state, control, **kwargs):
        step, now = state.global_step, time.perf_counter()
        if step == self.skip_steps and not self._resumed:
            self._mark = (step, now)
        if step > self.skip_steps and (step - self.skip_steps) % self.timing_steps == 0:
            total, stop = _broadcast(self._propose(step, now))
            if total and total != self.total_steps:
                self._fix(args, state, total)
            if stop:
                logger.warning("Time budget overrun: stopping at step %d of %s", step, self.total_steps)
                control.should_training_stop = True
        if self.total_steps is not None and step >= self.total_steps:
            control.should_training_stop = True
        return control

    def _propose(self, step: int, now: float) -> tuple[int, int]:
        """This process's view (rank 0's is used): a new total number of steps (0: keep it) and whether to stop."""
        budget, elapsed = self.minutes * 60, now - self._t0
        if elapsed > self.overrun * budget:  # much slower than timed (e.g. shared cores): the budget wins
            return 0, 1
        if self._mark is None:  # resumed: the total comes from the checkpoint
            return 0, 0
        mark_step, mark_time = self._mark
        if self.total_steps is not None and now - mark_time < self.recheck * budget:
            return 0, 0
        self.seconds_per_step = (now - mark_time) / (step - mark_step)
        self._mark = (step, now)
        total = step + max(0, math.floor((budget - elapsed) / self.seconds_per_step))
        if self.total_steps is not None and abs(total - self.total_steps) <= 0.01 * self.total_steps:
            return 0, 0  # within 1%: keep the schedule steady
        return total, 0

    def _fix(self, args, state, total: int) -> None:
        from transformers import get_scheduler

        total = min(total, self._cap) if self._cap else total
        self.total_steps = max(total, state.global_step, 1)
        state.max_steps = self.total_steps
        # Same schedule type and warmup rule as the Trainer's, over the budgeted number of steps.
        import torch

        probe = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0)
        retarget = get_scheduler(
            args.lr_scheduler_type,
            optimizer=probe,
            num_warmup_steps=args.get_warmup_steps(self.total_steps),
            num_training_steps=self.total_steps,
            scheduler_specific_kwargs=args.lr_scheduler_kwargs,
        )
        self._scheduler.lr_lambdas = [retarget.lr_lambdas[0]] * len(self._scheduler.lr_lambdas)
        if self._progress is not None and getattr(self._progress, "training_bar", None) is not None:
            self._progress.training_bar.total = self.total_steps
            self._progress.training_bar.refresh()
        logger.info(
            "Time budget %.1f min: %s s/step at step %d -> %d steps in total",
            self.minutes,
            f"{self.seconds_per_step:.3f}" if self.seconds_per_step else "?",
            state.global_step,
            self.total_steps,
        )


def _broadcast(value):
    """Rank 0's ``value`` on every process (as is without torch.distributed)."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        box = [value]
        dist.broadcast_object_list(box, src=0)
        return box[0]
    return value


def add_time_budget(trainer, minutes: float) -> TimeBudget:
    """Attaches a ``TimeBudget`` to a Trainer whose ``args.max_steps`` was set before construction."""
    from transformers.trainer_callback import ProgressCallback

    progress = next((cb for cb in trainer.callback_handler.callbacks if isinstance(cb, ProgressCallback)), None)
    budget = TimeBudget(minutes, progress=progress)
    trainer.add_callback(budget)
    return budget


def fix_budget_speed_metrics(trainer, train_result) -> None:
    """The Trainer computes samples/s from the placeholder max_steps; recompute them from the steps really run."""
    args, state = trainer.args, trainer.state
    runtime = train_result.metrics.get("train_runtime") or 0.0
    steps = state.global_step
    fixed = {
        "train_steps_per_second": steps / runtime if runtime else None,
        "train_samples_per_second": steps
        * args.train_batch_size
        * args.gradient_accumulation_steps
        * args.world_size
        / runtime
        if runtime
        else None,
    }
    train_result.metrics.update(fixed)
    for entry in state.log_history:
        if "train_runtime" in entry:
            entry.update(fixed)


def language_model_metrics(tokenizer):
    """``(preprocess_logits_for_metrics, compute_metrics)`` giving perplexity and bits per byte via our module.

    Logits are reduced to per-sequence sums inside the eval loop, so memory does not grow with the vocab.
    """
    import torch
    import torch.nn.functional as F

    from .metrics import load_metric
    from .tokenization import token_byte_lengths

    byte_lengths = torch.as_tensor(token_byte_lengths(tokenizer))
    metric = load_metric("language_modeling")

    def preprocess_logits_for_metrics(logits, labels):
        if isinstance(logits, tuple):
            logits = logits[0]
        logits, labels = logits[:, :-1].float(), labels[:, 1:]
        mask = labels != -100
        safe = labels.clamp(min=0)
        nll = F.cross_entropy(logits.transpose(1, 2), safe, reduction="none") * mask
        n_bytes = (byte_lengths.to(labels.device)[safe] * mask).sum(1)
        return torch.stack([nll.sum(1), mask.sum(1).float(), n_bytes.float()], dim=1)

    def compute_metrics(eval_pred):
        sums = eval_pred.predictions
        out = metric.compute(
            nll_sum=sums[:, 0].tolist(),
            num_tokens=sums[:, 1].astype("int64").tolist(),
            num_bytes=sums[:, 2].astype("int64").tolist(),
        )
        return {"perplexity": out["perplexity"], "bits_per_byte": out["bits_per_byte"]}

    return preprocess_logits_for_metrics, compute_metrics


def generate_sample(model, tokenizer, prompt: str, max_new_tokens: int = 60, seed: int = 0) -> str:
    """A short sampled continuation (prompt included), for results.json and reports."""
    import torch

    from .generation import generate_ids

    torch.manual_seed(seed)
    ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    prompt_ids, new_ids = generate_ids(model, tokenizer, ids, max_new_tokens, temperature=0.8, top_k=50)
    return tokenizer.decode(prompt_ids + new_ids, skip_special_tokens=True)


def perplexity(loss: float | None) -> float | None:
    """exp(loss), inf instead of an overflow."""
    if loss is None:
        return None
    return math.exp(loss) if loss < 700 else float("inf")
