"""The start and the end the training recipes share, as plain function calls (no base class, no framework).

A recipe's ``main`` reads: parse -> :func:`start` -> data -> model -> trainer -> :func:`train` -> :func:`finish`::

    run = start(training_args, args.overwrite, args.max_train_minutes)
    ...                                         # data, model, Trainer(...)
    train_result = train(trainer, run)
    results = {**metrics, **training_results(trainer, train_result, tokens, flops_per_token)}
    finish(run, results, f"Saved to {run.out}", main_process=trainer.is_world_process_zero(), pipeline_tag=...)
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)


@dataclass
class Run:
    """Where a run writes, the checkpoint it resumes from, and where it pushes at the end."""

    out: Path
    resume: str | bool | None = None
    hub: Any = None  # hfrecipes.hub.HubTarget, or None without --push_to_hub
    budget_minutes: float | None = None


def start(training_args: Any, overwrite: bool, max_train_minutes: float | None = None) -> Run:
    """What a Trainer recipe does before it reads any data: the recipe's bf16/fp16 decide (whatever the accelerate
    config), the Hub token is checked now (the push is once, at the end, never the Trainer's mid-run), the seed is
    set, compiled graphs on a CPU draw random numbers with eager's kernels, and the output folder is locked (an
    unfinished run there resumes). With a time budget and no ``max_steps`` the Trainer is given an open-ended step
    count, which the budget fixes after timing a few steps."""
    from transformers import set_seed

    from .hub import hub_target
    from .runs import prepare_output_dir
    from .training import UNBOUNDED_STEPS, check_precision, eager_random_on_cpu

    check_precision(training_args)
    eager_random_on_cpu(training_args)
    hub = hub_target(training_args)
    set_seed(training_args.seed)
    out, resume = prepare_output_dir(training_args, overwrite)
    if max_train_minutes and training_args.max_steps <= 0:
        training_args.max_steps = UNBOUNDED_STEPS
    return Run(out, resume, hub, max_train_minutes or None)


def train(trainer: Any, run: Run) -> Any:
    """``trainer.train()`` (resuming where the run left off), then the model saved into ``run.out`` through a staging
    folder (a crash mid-save never leaves a half-written model in place) and the Trainer state beside it."""
    from .runs import staged_save
    from .training import fix_budget_speed_metrics

    args = trainer.args
    logger.info("Process %d of %d (%s)", args.process_index, args.world_size, args.device)
    train_result = trainer.train(resume_from_checkpoint=run.resume)
    if run.budget_minutes:
        fix_budget_speed_metrics(trainer, train_result)
    with staged_save(run.out) as staging:
        trainer.save_model(str(staging))
    trainer.save_state()
    return train_result


def training_results(trainer: Any, train_result: Any, tokens: int, flops_per_token: float) -> dict[str, Any]:
    """The figures every training recipe records: loss, steps, tokens and their speed, parameters, processes."""
    from .modeling import parameter_counts
    from .training import throughput_metrics

    runtime, model = train_result.metrics["train_runtime"], trainer.model
    return {
        "train_loss": train_result.metrics.get("train_loss"),
        "train_runtime": runtime,
        "train_steps": trainer.state.global_step,
        "train_tokens": tokens,
        **throughput_metrics(flops_per_token, tokens, runtime, trainer.args, model),
        "num_parameters": parameter_counts(model)[1],  # ZeRO-3 and 4-bit weights at their real size
        "world_size": trainer.args.world_size,
    }


def finish(run: Run, results: dict[str, Any], summary: str, main_process: bool = True, **card: Any) -> None:
    """``results.json``; then, on the main process only (one writer and one push, whatever the number of
    processes), the model card (``card``: :func:`hfrecipes.cards.write_model_card`'s keywords), the summary line
    and the Hub push."""
    from .cards import write_model_card
    from .hub import push_folder
    from .runs import write_results

    write_results(run.out, results)
    if not main_process:
        return
    write_model_card(run.out, repo_id=run.hub and run.hub.repo_id, **card)
    print(summary)
    if run.hub:
        print(f"Pushed to {push_folder(run.out, run.hub.repo_id, run.hub.private)}")
