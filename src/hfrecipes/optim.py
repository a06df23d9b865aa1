"""Optimizer and LR-schedule options the configs select, passed to the HF Trainer through its own hooks.

- ``matrix_optimizer: muon``: ``torch.optim.Muon`` (torch >= 2.9) on the hidden 2-D weight matrices, and the Trainer's
  ``optim`` (AdamW by default) on the rest: embeddings, the LM head, norms, biases. Muon's update is scaled to
  AdamW's RMS (``adjust_lr_fn="match_rms_adamw"``), so one learning rate and schedule drive both. It reaches the
  Trainer as an optimizer factory (``Trainer(optimizer_cls_and_kwargs=...)``, which transformers calls with the model),
  so checkpoints and resume go through the Trainer as usual.
- ``lr_decay_ratio``: with ``lr_scheduler_type: warmup_stable_decay``, the decay phase is this fraction of the run's
  steps (the Trainer's WSD takes an absolute ``num_decay_steps``), resolved when training starts and again whenever
  ``--max_train_minutes`` re-targets the number of steps: the decay always ends with the budget. ``lr_decay_ratio:
  1`` with ``decay_type: linear`` is linear decay to zero after the warm-up.
- ``lr_reference_batch_size``: ``learning_rate`` (and ``muon_learning_rate``) are the rates tuned at this global batch
  (sequences per optimizer step); the run scales them to its own global batch (per-device batch x accumulation x
  processes) by ``lr_batch_scaling``: ``sqrt`` (Adam-type optimizers) or ``linear`` (SGD). A config tuned on one
  machine then keeps its rate when ``--per_device_train_batch_size`` or the process count changes.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from typing import Any

import torch
from transformers import TrainerCallback

from .errors import UserError
from .lr_schedule import WSD, schedule_kwargs

logger = logging.getLogger(__name__)


@dataclass
class OptimizerArguments:
    matrix_optimizer: str = field(
        default="adamw",
        metadata={
            "choices": ["adamw", "muon"],
            "help": "Optimizer of the hidden 2-D weight matrices: the Trainer's optim (adamw), or torch's Muon "
            "(the rest keeps optim).",
        },
    )
    muon_learning_rate: float | None = field(
        default=None, metadata={"help": "Muon's peak learning rate (default: learning_rate; RMS-matched to AdamW)."}
    )
    muon_momentum: float = field(default=0.95, metadata={"help": "Muon's momentum (Nesterov)."})
    lr_decay_ratio: float | None = field(
        default=None,
        metadata={
            "help": "warmup_stable_decay: the decay phase as a fraction of the training steps (0.2: the last 20%), "
            "kept under --max_train_minutes."
        },
    )
    lr_reference_batch_size: int | None = field(
        default=None,
        metadata={
            "help": "The global batch (sequences per step) learning_rate was tuned at: the rate is scaled to the "
            "run's own global batch by lr_batch_scaling (default: no scaling)."
        },
    )
    lr_batch_scaling: str = field(
        default="sqrt",
        metadata={"choices": ["sqrt", "linear"], "help": "With lr_reference_batch_size: sqrt (Adam) or linear (SGD)."},
    )

    def __post_init__(self):
        if self.matrix_optimizer == "muon" and not hasattr(torch.optim, "Muon"):
            raise ValueError(f"matrix_optimizer muon needs torch >= 2.9 (this is {torch.__version__}); use adamw")
        if self.lr_decay_ratio is not None and not 0 < self.lr_decay_ratio <= 1:
            raise ValueError(f"lr_decay_ratio must be in (0, 1], got {self.lr_decay_ratio}")


def prepare_optimizer(opt_args: OptimizerArguments, training_args: Any) -> dict[str, Any]:
    """Checks the options against the Trainer's (one-line errors) and returns the keyword arguments for
    ``Trainer(...)``: nothing for the Trainer's own optimizer, the Muon factory otherwise. With ``lr_decay_ratio``,
    ``training_args.lr_scheduler_kwargs`` gets a provisional ``num_decay_steps`` (the Trainer's WSD needs one to
    build); :class:`DecayRatio` or the time budget sets the real one when the steps are known."""
    if opt_args.lr_decay_ratio is not None and training_args.lr_scheduler_type != WSD:
        raise UserError(
            f"lr_decay_ratio is for lr_scheduler_type warmup_stable_decay, not {training_args.lr_scheduler_type}; "
            "set lr_scheduler_type: warmup_stable_decay or drop lr_decay_ratio"
        )
    if opt_args.matrix_optimizer == "muon" and (training_args.deepspeed or training_args.fsdp):
        raise UserError("matrix_optimizer muon runs on one process or DDP, not under FSDP or DeepSpeed; use adamw")
    if opt_args.lr_reference_batch_size is not None:
        scale_to_batch(opt_args, training_args)
    if opt_args.lr_decay_ratio is not None:
        total = training_args.max_steps if training_args.max_steps > 0 else 1
        training_args.lr_scheduler_kwargs = schedule_kwargs(training_args, total, opt_args.lr_decay_ratio)
    if opt_args.matrix_optimizer != "muon":
        return {}
    lr = opt_args.muon_learning_rate or training_args.learning_rate
    kwargs = {"args": training_args, "lr": lr, "momentum": opt_args.muon_momentum}
    return {"optimizer_cls_and_kwargs": (MuonFactory, kwargs)}


def scale_to_batch(opt_args: OptimizerArguments, training_args: Any) -> None:
    """Scales ``learning_rate`` (and ``muon_learning_rate``) from ``lr_reference_batch_size`` to this run's global
    batch. The reference becomes this run's batch, so run_config.yaml, read back, scales again from the scaled rate."""
    batch = training_args.per_device_train_batch_size * training_args.gradient_accumulation_steps
    batch *= training_args.world_size
    ratio = batch / opt_args.lr_reference_batch_size
    factor = ratio if opt_args.lr_batch_scaling == "linear" else math.sqrt(ratio)
    logger.info(
        "learning rate x %.3g: global batch %d vs lr_reference_batch_size %d (%s scaling)",
        factor, batch, opt_args.lr_reference_batch_size, opt_args.lr_batch_scaling,
    )  # fmt: skip
    training_args.learning_rate *= factor
    if opt_args.muon_learning_rate is not None:
        opt_args.muon_learning_rate *= factor
    opt_args.lr_reference_batch_size = batch


class MuonWithRest(torch.optim.Optimizer):
    """Muon on some parameters, another optimizer on the others, as one optimizer for the Trainer and its schedule.

    Its ``param_groups`` are the two optimizers' own group dicts, so the LR schedule sets both learning rates.
    """

    def __init__(self, muon: torch.optim.Optimizer, rest: torch.optim.Optimizer):
        self.muon, self.rest = muon, rest
        super().__init__([*muon.param_groups, *rest.param_groups], {})

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        self.muon.step()
        self.rest.step()
        return loss

    def state_dict(self) -> dict:
        return {"muon": self.muon.state_dict(), "rest": self.rest.state_dict()}

    def load_state_dict(self, state_dict: dict) -> None:
        self.muon.load_state_dict(state_dict["muon"])
        self.rest.load_state_dict(state_dict["rest"])
        self.param_groups = [*self.muon.param_groups, *self.rest.param_groups]  # loading made new group dicts


def muon_matrices(model: torch.nn.Module) -> set[str]:
    """Names of the hidden 2-D weight matrices: not embeddings (token, position), not the LM head."""
    skip = {id(m.weight) for m in model.modules() if isinstance(m, torch.nn.Embedding)}
    head = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    if head is not None:
        skip.add(id(head.weight))
    return {n for n, p in model.named_parameters() if p.requires_grad and p.ndim == 2 and id(p) not in skip}


class MuonFactory:
    """transformers' optimizer-factory protocol: ``MuonFactory()(model, **kwargs)`` builds the optimizer."""

    def __call__(self, model, *, args, lr: float, momentum: float) -> MuonWithRest:
        from transformers import Trainer

        matrices = muon_matrices(model)
        named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
        muon = torch.optim.Muon(
            [p for n, p in named if n in matrices],
            lr=lr,
            weight_decay=args.weight_decay,
            momentum=momentum,
            adjust_lr_fn="match_rms_adamw",
        )
        decay = set(Trainer.get_decay_parameter_names(None, model))
        groups = [
            {"params": [p for n, p in named if n not in matrices and n in decay], "weight_decay": args.weight_decay},
            {"params": [p for n, p in named if n not in matrices and n not in decay], "weight_decay": 0.0},
        ]
        rest_cls, rest_kwargs = Trainer.get_optimizer_cls_and_kwargs(args, model)
        rest = rest_cls([g for g in groups if g["params"]], **rest_kwargs)
        return MuonWithRest(muon, rest)


def rebuild_schedule(args: Any, scheduler, total_steps: int, decay_ratio: float | None = None) -> None:
    """Points a LambdaLR schedule (the Trainer's) at the same schedule type and warm-up rule over ``total_steps``."""
    from transformers import get_scheduler

    probe = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0)
    retarget = get_scheduler(
        args.lr_scheduler_type,
        optimizer=probe,
        num_warmup_steps=args.get_warmup_steps(total_steps),
        num_training_steps=total_steps,
        scheduler_specific_kwargs=schedule_kwargs(args, total_steps, decay_ratio),
    )
    scheduler.lr_lambdas = [retarget.lr_lambdas[0]] * len(scheduler.lr_lambdas)


class DecayRatio(TrainerCallback):
    """Resolves ``lr_decay_ratio`` over the run's steps when training starts (no time budget: the steps are known)."""

    def __init__(self, decay_ratio: float):
        self.decay_ratio = decay_ratio

    def on_train_begin(self, args, state, control, lr_scheduler=None, **kwargs):
        rebuild_schedule(args, lr_scheduler, state.max_steps, self.decay_ratio)
