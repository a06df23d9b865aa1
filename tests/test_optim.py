"""Optimizer options: Muon on the hidden matrices with the Trainer's optim on the rest; WSD decay as a fraction."""

import json

import pytest
import torch
from conftest import load_recipe
from transformers import GPT2Config, GPT2LMHeadModel, TrainerControl, TrainerState, TrainingArguments, get_scheduler

from hfrecipes.optim import DecayRatio, MuonFactory, MuonWithRest, muon_matrices
from hfrecipes.training import UNBOUNDED_STEPS, TimeBudget

TINY = ["--n_layer", "1", "--n_head", "2", "--n_embd", "32", "--block_size", "32", "--max_train_samples", "200",
        "--per_device_train_batch_size", "8", "--learning_rate", "3e-3", "--report_to", "none",
        "--max_train_minutes", "0"]  # fmt: skip


def tiny_gpt2():
    torch.manual_seed(0)
    return GPT2LMHeadModel(GPT2Config(n_layer=2, n_embd=32, n_head=2, vocab_size=64, n_positions=16))


def test_muon_gets_the_hidden_matrices_and_the_schedule_drives_both(tmp_path):
    model = tiny_gpt2()
    matrices = muon_matrices(model)
    assert matrices == {f"transformer.h.{i}.{m}.weight" for i in range(2) for m in
                        ("attn.c_attn", "attn.c_proj", "mlp.c_fc", "mlp.c_proj")}  # fmt: skip
    args = TrainingArguments(output_dir=str(tmp_path), learning_rate=1e-2, weight_decay=0.1, report_to=[])
    optimizer = MuonFactory()(model, args=args, lr=2e-2, momentum=0.95)
    assert isinstance(optimizer.muon, torch.optim.Muon) and isinstance(optimizer.rest, torch.optim.AdamW)
    in_muon = {id(p) for g in optimizer.muon.param_groups for p in g["params"]}
    assert in_muon == {id(p) for n, p in model.named_parameters() if n in matrices}
    rest = {id(p) for g in optimizer.rest.param_groups for p in g["params"]}
    assert rest.isdisjoint(in_muon) and len(rest | in_muon) == len(list(model.parameters()))
    scheduler = get_scheduler("linear", optimizer, num_warmup_steps=0, num_training_steps=4)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    ids = torch.randint(0, 64, (2, 16))
    for _ in range(2):
        model(input_ids=ids, labels=ids).loss.backward()
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad()
    assert all(not torch.equal(before[n], p) for n, p in model.named_parameters()), "every parameter moved"
    assert [g["lr"] for g in optimizer.muon.param_groups] == [pytest.approx(1e-2)]  # 2e-2, halfway down
    assert optimizer.rest.param_groups[0]["lr"] == pytest.approx(5e-3)

    # A checkpoint round trip keeps both states, and the schedule still reaches both optimizers after loading.
    state = optimizer.state_dict()
    again = MuonFactory()(tiny_gpt2(), args=args, lr=2e-2, momentum=0.95)
    again.load_state_dict(state)
    assert (
        again.param_groups[0] is again.muon.param_groups[0] and again.param_groups[-1] is again.rest.param_groups[-1]
    )
    momentum = next(iter(again.muon.state.values()))["momentum_buffer"]
    assert torch.equal(momentum, next(iter(optimizer.muon.state.values()))["momentum_buffer"])


def test_pretrain_with_muon_trains_and_resumes(tiny_tokenizer, tmp_path):
    out = tmp_path / "muon"
    command = [*TINY, "--tokenizer_name", str(tiny_tokenizer), "--matrix_optimizer", "muon", "--max_steps", "8",
               "--save_steps", "4", "--output_dir", str(out)]  # fmt: skip
    load_recipe("pretrain").main(command)
    results = json.loads((out / "results.json").read_text())
    assert results["train_steps"] == 8 and results["eval_loss"] < results["train_loss"] + 1.0
    saved = torch.load(out / "checkpoint-4" / "optimizer.pt", weights_only=True)
    assert set(saved) == {"muon", "rest"} and saved["muon"]["state"], "the checkpoint holds Muon's momentum"
    config = (out / "run_config.yaml").read_text()
    assert "matrix_optimizer: muon" in config


def test_wsd_decay_is_the_last_fraction_of_a_budgeted_run(monkeypatch, tmp_path):
    """lr_decay_ratio 0.25 under a 1-minute budget: flat, then down to 0 over the last quarter of the steps."""
    clock = [0.0]
    monkeypatch.setattr(TimeBudget, "clock", staticmethod(lambda: clock[0]))
    args = TrainingArguments(
        output_dir=str(tmp_path), max_steps=UNBOUNDED_STEPS, lr_scheduler_type="warmup_stable_decay",
        lr_scheduler_kwargs={"num_decay_steps": 1, "decay_type": "linear"}, warmup_steps=0.05, report_to=[],
    )  # fmt: skip
    optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0)
    scheduler = get_scheduler(
        args.lr_scheduler_type, optimizer, num_warmup_steps=0, num_training_steps=UNBOUNDED_STEPS,
        scheduler_specific_kwargs=args.lr_scheduler_kwargs,
    )  # fmt: skip
    state, control = TrainerState(), TrainerControl()
    budget = TimeBudget(1.0, decay_ratio=0.25)
    budget.on_train_begin(args, state, control, lr_scheduler=scheduler)
    lrs = []
    while not control.should_training_stop:
        clock[0] += 0.1
        state.global_step += 1
        budget.on_step_end(args, state, control)
        lrs.append(scheduler.lr_lambdas[0](state.global_step))
    total = budget.total_steps
    assert total == pytest.approx(600, rel=0.02)
    flat = lrs[int(0.1 * total) : int(0.74 * total)]
    assert min(flat) == max(flat) == 1.0, "stable phase"
    assert lrs[int(0.875 * total)] == pytest.approx(0.5, abs=0.03) and lrs[-1] < 0.01, "linear decay to the end"


def test_decay_ratio_without_a_budget_uses_the_runs_steps(tmp_path):
    args = TrainingArguments(
        output_dir=str(tmp_path), max_steps=100, lr_scheduler_type="warmup_stable_decay",
        lr_scheduler_kwargs={"num_decay_steps": 1}, report_to=[],
    )  # fmt: skip
    optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0)
    scheduler = get_scheduler(args.lr_scheduler_type, optimizer, num_training_steps=100, num_warmup_steps=0,
                              scheduler_specific_kwargs={"num_decay_steps": 1})  # fmt: skip
    state = TrainerState(max_steps=100)
    DecayRatio(0.5).on_train_begin(args, state, TrainerControl(), lr_scheduler=scheduler)
    lam = scheduler.lr_lambdas[0]
    assert lam(49) == 1.0 and 0 < lam(75) < 1 and lam(100) == pytest.approx(0, abs=1e-6)


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--lr_decay_ratio", "0.2"], "lr_decay_ratio is for lr_scheduler_type warmup_stable_decay, not"),
        (["--lr_decay_ratio", "1.5", "--lr_scheduler_type", "warmup_stable_decay"], "lr_decay_ratio"),
        (["--matrix_optimizer", "sgd"], "invalid choice: 'sgd'"),
    ],
)
def test_bad_optimizer_options_are_one_line(argv, message, tmp_path, capsys):
    from hfrecipes.config import cli_main

    with pytest.raises(SystemExit) as stop:
        cli_main(lambda: load_recipe("pretrain").main([*argv, "--output_dir", str(tmp_path / "out")]))
    err = capsys.readouterr().err.strip().splitlines()
    assert stop.value.code == 2 and len(err) == 1 and message in err[0], err


def test_muon_with_rest_is_an_optimizer_for_lr_schedulers():
    model = tiny_gpt2()
    muon = torch.optim.Muon([model.transformer.h[0].mlp.c_fc.weight], lr=0.1, adjust_lr_fn="match_rms_adamw")
    rest = torch.optim.AdamW([model.transformer.wte.weight], lr=0.1)
    both = MuonWithRest(muon, rest)
    scheduler = torch.optim.lr_scheduler.LambdaLR(both, lambda step: 0.5)
    assert scheduler.get_last_lr() == [0.05, 0.05]
    assert muon.param_groups[0]["lr"] == rest.param_groups[0]["lr"] == 0.05


@pytest.mark.parametrize(
    "scaling, batch, accumulation, expected",
    [("sqrt", 64, 1, 2e-3 * 2), ("sqrt", 16, 1, 2e-3), ("linear", 8, 4, 2e-3 * 2), ("sqrt", 4, 1, 2e-3 / 2)],
)
def test_learning_rate_scales_from_the_reference_batch(scaling, batch, accumulation, expected, tmp_path):
    from hfrecipes.optim import OptimizerArguments, prepare_optimizer

    args = TrainingArguments(
        output_dir=str(tmp_path), learning_rate=2e-3, per_device_train_batch_size=batch,
        gradient_accumulation_steps=accumulation, report_to=[],
    )  # fmt: skip
    opt = OptimizerArguments(lr_reference_batch_size=16, lr_batch_scaling=scaling, muon_learning_rate=0.02,
                             matrix_optimizer="muon")  # fmt: skip
    kwargs = prepare_optimizer(opt, args)
    assert args.learning_rate == pytest.approx(expected)
    assert kwargs["optimizer_cls_and_kwargs"][1]["lr"] == pytest.approx(0.02 * expected / 2e-3)
    assert opt.lr_reference_batch_size == batch * accumulation  # saved so, the run config reads back to this run
