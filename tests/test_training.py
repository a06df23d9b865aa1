"""TimeBudget against a simulated clock: the run ends on time and the LR schedule decays to the end, even when the
machine's speed changes mid-run (shared cores)."""

import math

import pytest
import torch
from transformers import TrainerControl, TrainerState, TrainingArguments, get_scheduler

from hfrecipes.training import UNBOUNDED_STEPS, TimeBudget


def simulate(monkeypatch, tmp_path, minutes, seconds_per_step):
    """Steps a TimeBudget as the Trainer would; ``seconds_per_step(t)`` is the cost of a step starting at time t."""
    clock = [0.0]
    monkeypatch.setattr(TimeBudget, "clock", staticmethod(lambda: clock[0]))
    args = TrainingArguments(
        output_dir=str(tmp_path), max_steps=UNBOUNDED_STEPS, lr_scheduler_type="cosine", warmup_steps=0.1, report_to=[]
    )
    optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0)
    warmup = args.get_warmup_steps(UNBOUNDED_STEPS)
    scheduler = get_scheduler("cosine", optimizer, num_warmup_steps=warmup, num_training_steps=UNBOUNDED_STEPS)
    state, control = TrainerState(), TrainerControl()
    budget = TimeBudget(minutes)
    budget.on_train_begin(args, state, control, lr_scheduler=scheduler)
    lrs = []
    while not control.should_training_stop:
        clock[0] += seconds_per_step(clock[0])
        state.global_step += 1
        budget.on_step_end(args, state, control)
        lrs.append(scheduler.lr_lambdas[0](state.global_step))
        assert state.global_step < 10**6, "never stopped"
    return clock[0], state.global_step, lrs, budget


def test_steady_speed_ends_on_time_and_warms_up_at_once(monkeypatch, tmp_path):
    seconds, steps, lrs, budget = simulate(monkeypatch, tmp_path, 1.0, lambda t: 0.1)
    assert seconds == pytest.approx(60, rel=0.02) and steps == budget.total_steps
    assert lrs[19] > 0.1, "the warm-up ratio applies from the first estimate (step 13), not from 10^9 steps"
    assert max(lrs) > 0.95 and lrs[-1] < 0.01, "warm-up, then decay to the end of the budget"


def test_machine_slowing_down_mid_run_still_ends_on_time(monkeypatch, tmp_path):
    # Twice as slow from 40% of the budget on: timing only the start would plan 600 steps and run 84 s.
    seconds, steps, lrs, _ = simulate(monkeypatch, tmp_path, 1.0, lambda t: 0.1 if t < 24 else 0.2)
    assert seconds == pytest.approx(60, rel=0.05), "re-timed: the step count and schedule were re-targeted"
    assert 380 < steps < 420 and lrs[-1] < 0.01, "the schedule still decays to the (new) end"


def test_a_sudden_stall_stops_soon_after_the_budget(monkeypatch, tmp_path):
    # Twenty times slower for the last 5% of the planned ~600 steps: the run stops at the first check (every 10
    # steps, here 20 s) after the budget or the 110% guard, not after the 60 slow steps the plan still holds.
    seconds, steps, _, _ = simulate(monkeypatch, tmp_path, 1.0, lambda t: 0.1 if t < 57 else 2.0)
    assert 60 <= seconds <= 66 + 10 * 2.0 and steps < 590


def test_machine_speeding_up_after_the_first_window_still_spends_the_budget(monkeypatch, tmp_path):
    # The first timing window sees a slow start (0.5 s/step: compilation, a busy neighbour), then steps take 0.05 s:
    # planning from that window alone ends after ~60 steps, at ~9 s of the 60 s budget.
    seconds, steps, lrs, _ = simulate(monkeypatch, tmp_path, 1.0, lambda t: 0.5 if t < 7 else 0.05)
    assert seconds == pytest.approx(60, rel=0.05), f"ended at {seconds:.1f} s of 60"
    assert steps > 1000 and lrs[-1] < 0.01, "re-targeted up, and the schedule still decays to the end"


def test_ratio_valued_logging_eval_and_save_steps_fire_under_a_budget(monkeypatch, tmp_path):
    """logging_steps: 0.1 is a tenth of the budgeted steps (the Trainer computed it from the 10^9 placeholder)."""
    clock = [0.0]
    monkeypatch.setattr(TimeBudget, "clock", staticmethod(lambda: clock[0]))
    args = TrainingArguments(
        output_dir=str(tmp_path), max_steps=UNBOUNDED_STEPS, logging_steps=0.1, eval_steps=0.25, save_steps=0.5,
        eval_strategy="steps", report_to=[],
    )  # fmt: skip
    optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0)
    scheduler = get_scheduler("linear", optimizer, num_warmup_steps=0, num_training_steps=UNBOUNDED_STEPS)
    state, control = TrainerState(), TrainerControl()
    state.compute_steps(args, UNBOUNDED_STEPS)  # as Trainer.train does
    budget = TimeBudget(1.0)
    budget.on_train_begin(args, state, control, lr_scheduler=scheduler)
    while not control.should_training_stop:
        clock[0] += 0.1
        state.global_step += 1
        budget.on_step_end(args, state, control)
    assert state.global_step == budget.total_steps == pytest.approx(600, rel=0.02)
    assert (state.logging_steps, state.eval_steps, state.save_steps) == tuple(
        math.ceil(budget.total_steps * r) for r in (0.1, 0.25, 0.5)
    )


def test_compiled_cpu_runs_draw_dropout_masks_with_eager_kernels(monkeypatch, tmp_path):
    """torch_compile on the CPU: inductor falls back to eager's RNG (its own per-element generator made dropout cost
    most of a step); without torch_compile the inductor config is left as it was."""
    import torch._inductor.config as inductor

    from hfrecipes.training import eager_random_on_cpu

    monkeypatch.setattr(inductor, "fallback_random", False)
    eager_random_on_cpu(TrainingArguments(str(tmp_path), use_cpu=True, report_to=[]))
    assert inductor.fallback_random is False
    eager_random_on_cpu(TrainingArguments(str(tmp_path), use_cpu=True, torch_compile=True, report_to=[]))
    assert inductor.fallback_random is True
