import itertools
import json
import logging
import math
import shutil

import pytest
import yaml
from conftest import SHARED_DATA, launch, launch_killed, load_recipe, max_weight_diff

# fmt: off
TINY = ["--n_layer", "1", "--n_head", "2", "--n_embd", "32", "--block_size", "32", "--max_train_samples", "300",
        "--per_device_train_batch_size", "8", "--per_device_eval_batch_size", "16", "--learning_rate", "3e-3",
        "--logging_steps", "1", "--report_to", "tensorboard"]
# fmt: on


def tiny(*extra):
    """The tiny shape, no time budget (the default config sets one) unless ``extra`` sets it again."""
    return [*TINY, "--max_train_minutes", "0", *extra]


def pretrain_command(tokenizer, out) -> list[str]:
    """The arguments of the ``pretrained`` run: 30 steps, checkpoints at 15 and 30, dropout (RNG state to resume)."""
    config = "recipes/configs/pretrain/default.yaml"
    # fmt: off
    return ["--config", config, *tiny("--tokenizer_name", str(tokenizer), "--max_steps", "30", "--save_steps", "15",
            "--dropout", "0.1", "--eval_on_start", "--eval_strategy", "steps", "--eval_steps", "30",
            "--output_dir", str(out))]
    # fmt: on


@pytest.fixture(scope="module")
def pretrained(tiny_tokenizer, tmp_path_factory):
    out = tmp_path_factory.mktemp("pretrain") / "run"
    launch("pretrain", *pretrain_command(tiny_tokenizer, out))
    return out, "recipes/configs/pretrain/default.yaml"


def test_pretrain_writes_a_complete_output_folder(pretrained):
    out, _ = pretrained
    for name in [
        "model.safetensors",
        "config.json",
        "tokenizer.json",
        "tokenizer_config.json",
        "trainer_state.json",
        "results.json",
        "run_config.yaml",
        "run_info.json",
        "checkpoint-15",
        "checkpoint-30",
    ]:
        assert (out / name).exists(), name
    assert list((out / "runs").rglob("events.out.tfevents.*")), "TensorBoard logs by report_to"
    assert not list(out.glob("*.bin")) or [p.name for p in out.glob("*.bin")] == ["training_args.bin"]
    results = json.loads((out / "results.json").read_text())
    for key in ["eval_loss", "perplexity", "eval_bits_per_byte", "train_runtime", "train_tokens_per_second", "sample"]:
        assert results[key] is not None, key
    assert results["train_steps"] == 30 and results["train_tokens"] == 30 * 8 * 32
    assert results["perplexity"] == pytest.approx(math.exp(results["eval_loss"]), rel=1e-3)
    assert 0.5 < results["eval_bits_per_byte"] < 4  # a byte costs 8 bits at uniform odds
    # tokens/s is the run's own count over its own runtime (no floor: a busy machine is slower, not wrong)
    speed = results["train_tokens"] / results["train_runtime"]
    assert results["train_tokens_per_second"] == pytest.approx(speed, rel=0.05)
    assert isinstance(results["sample"], str) and len(results["sample"]) > len(results["sample_prompt"])


def test_pretrain_learns(pretrained):
    out, _ = pretrained
    state = json.loads((out / "trainer_state.json").read_text())
    evals = [e["eval_loss"] for e in state["log_history"] if "eval_loss" in e]
    losses = [e["loss"] for e in state["log_history"] if "loss" in e]
    assert len(losses) == 30, "a loss per step in trainer_state.json"
    assert evals[-1] < evals[0] - 0.5, "validation loss falls from its initial value"
    assert evals[0] == pytest.approx(math.log(512), abs=0.5), "untrained model is near-uniform over the vocab"


def test_resolved_config_reproduces_the_run(pretrained):
    out, _ = pretrained
    cfg = yaml.safe_load((out / "run_config.yaml").read_text())
    assert cfg["n_embd"] == 32 and cfg["max_steps"] == 30 and "hub_token" not in cfg
    info = json.loads((out / "run_info.json").read_text())
    assert info["recipe"] == "pretrain" and info["versions"]["torch"]


def test_resume_from_checkpoint(pretrained, tmp_path):
    out, _ = pretrained
    copy = tmp_path / "resumed"
    shutil.copytree(out / "checkpoint-15", copy / "checkpoint-15")
    cfg = yaml.safe_load((out / "run_config.yaml").read_text())
    command = pretrain_command(cfg["tokenizer_name"], copy)
    launch("pretrain", *command, "--resume_from_checkpoint", str(copy / "checkpoint-15"))
    state = json.loads((copy / "trainer_state.json").read_text())
    assert state["global_step"] == 30
    assert min(e["step"] for e in state["log_history"] if "loss" in e) == 1, "history carried over from checkpoint"
    assert max_weight_diff(out, copy) <= 1e-5, "same weights as the uninterrupted run"


def test_kill_during_a_save_then_the_same_command_resumes(pretrained, tiny_tokenizer, tmp_path, caplog):
    """SIGKILL while checkpoint-30 is half written: the rerun resumes from checkpoint-15, weights as uninterrupted."""
    reference, _ = pretrained
    out = tmp_path / "killed"
    command = pretrain_command(tiny_tokenizer, out)
    launch_killed("pretrain", "save:30", *command)
    assert (out / "checkpoint-30" / "model.safetensors").is_file(), "killed after the weights were written"
    assert not (out / "checkpoint-30" / "trainer_state.json").exists() and not (out / "results.json").exists()
    caplog.set_level(logging.INFO, logger="hfrecipes.runs")
    load_recipe("pretrain").main(command)  # the same command again (in-process: it saves the launcher's start-up)
    log = caplog.text
    assert f"Resuming the unfinished run in {out} from {out / 'checkpoint-15'}" in log
    assert "Deleting incomplete checkpoints (killed while saving?): ['checkpoint-30']" in log
    assert max_weight_diff(reference, out) <= 1e-5
    losses = [json.loads((d / "trainer_state.json").read_text())["log_history"] for d in (reference, out)]
    losses = [[(e["step"], e["loss"]) for e in history if "loss" in e] for history in losses]
    assert losses[0] == losses[1] and len(losses[1]) == 30, "same data order and loss at every step"
    assert json.loads((out / "checkpoint-30" / "trainer_state.json").read_text())["global_step"] == 30


def test_time_budget_fixes_steps_and_decays_lr(tiny_tokenizer, tmp_path, monkeypatch):
    """A 9 s budget against a simulated clock (0.1 s per step, whatever this machine's speed): ~90 steps."""
    from hfrecipes.training import TimeBudget

    ticks = itertools.count()
    monkeypatch.setattr(TimeBudget, "clock", staticmethod(lambda: 0.1 * next(ticks)))
    out = tmp_path / "budget"
    # fmt: off
    command = tiny("--tokenizer_name", str(tiny_tokenizer), "--max_train_minutes", "0.15", "--lr_scheduler_type",
                   "cosine", "--save_steps", "30", "--report_to", "none", "--output_dir", str(out))
    # fmt: on
    load_recipe("pretrain").main(command)
    results = json.loads((out / "results.json").read_text())
    state = json.loads((out / "trainer_state.json").read_text())
    assert state["global_step"] == results["train_steps"] == state["max_steps"]
    assert 85 <= state["global_step"] <= 91, "9 s of 0.1 s steps, after the first clock reading"
    lrs = [e["learning_rate"] for e in state["log_history"] if "learning_rate" in e]
    assert max(lrs) > 1.5e-3 and lrs[-1] < 0.05 * max(lrs), "schedule decays to the end"

    # Killed after a checkpoint that holds the budgeted step count: the rerun trains to that count, not re-timed.
    def budget(checkpoint):
        saved = json.loads((checkpoint / "trainer_state.json").read_text())["stateful_callbacks"]
        return saved.get("TimeBudget", {}).get("attributes", {}).get("total_steps")

    checkpoints = sorted(out.glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[1]))
    fixed = next((c for c in checkpoints if budget(c) and int(c.name.split("-")[1]) < budget(c)), None)
    assert fixed, f"no checkpoint saved after the budget was fixed and before the end: {checkpoints}"
    total = budget(fixed)
    resumed = tmp_path / "resumed"
    shutil.copytree(fixed, resumed / fixed.name)
    load_recipe("pretrain").main([*command[:-1], str(resumed)])
    state = json.loads((resumed / "trainer_state.json").read_text())
    assert state["global_step"] == total, f"resumed from {fixed.name} with {total} budgeted steps"
    lrs = [e["learning_rate"] for e in state["log_history"] if "learning_rate" in e]
    assert lrs[-1] < 0.05 * max(lrs), "the schedule still decays to the budgeted end"


@pytest.mark.slow
def test_real_data_shakespeare(tmp_path, shared_data):
    text = (SHARED_DATA / "tinyshakespeare" / "input.txt").read_text()
    cut = int(len(text) * 0.9)
    (tmp_path / "train.txt").write_text(text[:cut])
    (tmp_path / "val.txt").write_text(text[cut:])
    tok = tmp_path / "tok"
    launch(
        "train_tokenizer", "--train_file", str(tmp_path / "train.txt"), "--vocab_size", "512", "--output_dir", str(tok)
    )
    out = tmp_path / "lm"
    launch(
        "pretrain",
        "--config",
        "recipes/configs/pretrain/shakespeare.yaml",
        "--tokenizer_name",
        str(tok),
        "--train_file",
        str(tmp_path / "train.txt"),
        "--validation_file",
        str(tmp_path / "val.txt"),
        "--max_train_minutes",
        "0",
        "--max_steps",
        "200",
        "--n_layer",
        "2",
        "--n_embd",
        "64",
        "--n_head",
        "2",
        "--report_to",
        "none",
        "--save_strategy",
        "no",
        "--output_dir",
        str(out),
    )
    results = json.loads((out / "results.json").read_text())
    assert results["eval_bits_per_byte"] < 4.0, "well below the ~9 bits/byte of an untrained model"


def test_streaming_pretraining_from_local_files(tiny_tokenizer, tmp_path):
    """--streaming tokenizes and packs on the fly; max_steps drives training; the first rows are held out."""
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n\n".join(f"Paragraph {i}: " + "some words to learn " * (i % 9 + 1) for i in range(400)))
    out = tmp_path / "stream"
    launch(
        "pretrain",
        *tiny(
            "--tokenizer_name",
            str(tiny_tokenizer),
            "--train_file",
            str(corpus),
            "--streaming",
            "--max_eval_samples",
            "40",
            "--max_steps",
            "15",
            "--save_strategy",
            "no",
            "--output_dir",
            str(out),
        ),
    )
    results = json.loads((out / "results.json").read_text())
    assert results["train_steps"] == 15 and results["train_tokens"] == 15 * 8 * 32
    assert 0 < results["eval_bits_per_byte"] < 8 and results["sample_prompt"].startswith("Paragraph 0")
