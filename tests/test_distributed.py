"""Several processes through accelerate: CPU DDP over gloo with accelerate_configs/cpu_ddp.yaml."""

import json

import pytest
from conftest import launch

# fmt: off
TINY = ["--n_layer", "1", "--n_head", "2", "--n_embd", "32", "--block_size", "32", "--max_train_samples", "300",
        "--max_steps", "20", "--max_train_minutes", "0", "--learning_rate", "3e-3", "--save_strategy", "no",
        "--report_to", "none", "--seed", "7"]
# fmt: on


@pytest.mark.slow
def test_ddp_matches_one_process_with_the_same_global_batch(tiny_tokenizer, tmp_path):
    one, two = tmp_path / "one", tmp_path / "two"
    launch(
        "pretrain",
        *TINY,
        "--tokenizer_name",
        str(tiny_tokenizer),
        "--per_device_train_batch_size",
        "8",
        "--output_dir",
        str(one),
    )
    proc = launch(
        "pretrain",
        *TINY,
        "--tokenizer_name",
        str(tiny_tokenizer),
        "--per_device_train_batch_size",
        "4",
        "--output_dir",
        str(two),
        accelerate_config="cpu_ddp.yaml",
    )
    log = proc.stdout + proc.stderr
    assert "Process 0 of 2" in log and "Process 1 of 2" in log, "two ranks really ran"
    assert log.count("Results written to") == 1 and log.count("Model saved to") == 1, "one writer"
    r1, r2 = (json.loads((d / "results.json").read_text()) for d in (one, two))
    assert r2["world_size"] == 2 and r2["train_tokens"] == r1["train_tokens"] == 20 * 8 * 32
    # Accelerate hands rank r the r-th micro-batch of each group drawn from the same seeded sampler, so a global
    # batch of 2 x 4 holds the very rows of the 1 x 8 batch; only the all-reduce's summation order differs.
    assert r2["eval_loss"] == pytest.approx(r1["eval_loss"], abs=2e-3)
    assert not list(two.glob(".*.tmp*")), "no half-written files left behind"
