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
    """Fits training into ``minutes`` of wall time.

    After ``skip_steps`` warm-up steps (compilation, allocator) it times at least ``timing_steps`` steps (and 5% of
    the budget), fixes the total number of steps that fit the budget, and re-targets the LR schedule so it decays
    to the end of the budget.
    The fixed step count is saved in checkpoints, so a resumed run keeps the same schedule, and is broadcast
    from rank 0 so every process stops at the same step.
    """

    def __init__(self, minutes: float, skip_steps: int = 3, timing_steps: int = 10, progress=None, overrun=1.1):
        self.minutes = minutes
        self.overrun = overrun
        self.skip_steps = skip_steps
        self.timing_steps = timing_steps
        self.total_steps: int | None = None
        self.seconds_per_step: float | None = None
        self._progress = progress
        self._scheduler = None
        self._cap = None

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
            self._fix(args, state, saved["attributes"]["total_steps"])  # resumed: keep the original schedule

    def on_step_end(self, args, state, control, **kwargs):
        step = state.global_step
        if self.total_steps is None:
            now = time.perf_counter()
            if step == self.skip_steps:
                self._t_mark = now
            elif step > self.skip_steps:
                timed = step - self.skip_steps
                # Time at least `timing_steps` steps and 5% of the budget (<= 30 s): tiny steps are noisy.
                window = min(0.05 * self.minutes * 60, 30.0)
                if timed >= self.timing_steps and now - self._t_mark >= window:
                    self.seconds_per_step = (now - self._t_mark) / timed
                    remaining = self.minutes * 60 - (now - self._t0)
                    self._fix(args, state, _broadcast(step + max(0, math.floor(remaining / self.seconds_per_step))))
            if self.total_steps is None and now - self._t0 > self.minutes * 60:
                self._fix(args, state, _broadcast(step))  # slower than the timing window allows
        if self.total_steps is not None and step >= self.total_steps:
            control.should_training_stop = True
        elif self.total_steps is not None and step % 10 == 0 and _broadcast(self._overran()):
            # The machine got slower after timing (e.g. shared cores): honour the budget over the schedule.
            # Rank 0 decides (every 10 steps) so all processes stop at the same step.
            logger.warning("Time budget overrun: stopping at step %d of %d", step, self.total_steps)
            control.should_training_stop = True
        return control

    def _overran(self) -> int:
        return int(time.perf_counter() - self._t0 > self.overrun * self.minutes * 60)

    def _fix(self, args, state, total: int) -> None:
        from transformers import get_scheduler

        total = min(total, self._cap) if self._cap else total
        self.total_steps = max(total, 1)
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
            "Time budget %.1f min: %s s/step -> %d steps in total",
            self.minutes,
            f"{self.seconds_per_step:.3f}" if self.seconds_per_step else "?",
            self.total_steps,
        )


def _broadcast(value: int) -> int:
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        box = [value]
        dist.broadcast_object_list(box, src=0)
        return int(box[0])
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
