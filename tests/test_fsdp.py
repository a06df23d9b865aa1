"""FSDP2 on CPU: accelerate_configs/cpu_fsdp.yaml (2 processes over gloo) against 1 process at the same global batch.

Each recipe runs once as 1 process x 8 rows (in this process) and once under FSDP as 2 processes x 4 rows (module
fixtures, shared by the tests). The tolerances are those of the DDP tests (test_distributed.py): accelerate hands rank
r the r-th half of each batch the one process draws, so only the order of the gradient reduction differs (measured:
weights within 1.6e-6 for full fine-tuning, identical for LoRA; eval losses within 1e-6). Then the checks of what a
sharded run writes: the model reloads with the one-process logits, a rank killed mid-save leaves a checkpoint that is
not resumed from, and the resumed run ends bit for bit on the uninterrupted run's weights. Checkpoint layouts of FSDP's
sharded state dict and of DeepSpeed are checked on files at the end.
"""

import json
import zipfile

import pytest
import torch
import yaml
from conftest import ROOT, launch, launch_killed, load_recipe, max_weight_diff

from hfrecipes.runs import is_usable_checkpoint

# fmt: off
PRETRAIN = ["--n_layer", "1", "--n_head", "2", "--n_embd", "32", "--block_size", "32", "--max_train_samples", "300",
            "--max_steps", "8", "--max_train_minutes", "0", "--learning_rate", "3e-3", "--save_steps", "3",
            "--logging_steps", "1", "--report_to", "none", "--seed", "7"]
FINE_TUNE = ["--num_train_epochs", "1", "--logging_steps", "1", "--report_to", "none"]
CLASSIFY = [*FINE_TUNE, "--max_train_samples", "64", "--max_eval_samples", "128", "--learning_rate", "3e-3"]
SFT = [*FINE_TUNE, "--max_train_samples", "64", "--max_eval_samples", "32", "--learning_rate", "3e-3"]
LORA = [*FINE_TUNE, "--max_train_samples", "64", "--max_eval_samples", "32", "--learning_rate", "1e-2", "--use_peft",
        "--lora_r", "4", "--lora_dropout", "0"]  # dropout draws other masks for 2 x 4 rows than for 8
# fmt: on
CONFIGS = ("fsdp.yaml", "cpu_fsdp.yaml")


def launch_fsdp(recipe, *args):
    proc = launch(recipe, *args, accelerate_config="cpu_fsdp.yaml")
    log = proc.stdout + proc.stderr
    assert "Process 0 of 2" in log and "Process 1 of 2" in log, "two ranks really ran"
    assert log.count("Results written to") == 1, "one writer"
    return log


def sharded_by_fsdp(checkpoint):
    """FSDP's own checkpoint files (DDP writes optimizer.pt): the run was sharded, not silently DDP."""
    return (checkpoint / "pytorch_model_fsdp.bin").is_file() and (checkpoint / "optimizer.bin").is_file()


def results(out):
    return json.loads((out / "results.json").read_text())


def step_losses(out):
    history = json.loads((out / "trainer_state.json").read_text())["log_history"]
    return [(e["step"], e["loss"]) for e in history if "loss" in e]


def pair(recipe, root, *args):
    """The same run as 1 process x 8 rows (here) and under FSDP as 2 processes x 4 rows; FSDP saves a checkpoint."""
    one, fsdp = root / "one", root / "fsdp"
    load_recipe(recipe).main([*args, "--per_device_train_batch_size", "8", "--output_dir", str(one)])
    log = launch_fsdp(recipe, *args, "--per_device_train_batch_size", "4", "--output_dir", str(fsdp))
    r1, r2 = results(one), results(fsdp)
    assert r1["world_size"] == 1 and r2["world_size"] == 2 and r1["train_steps"] == r2["train_steps"]
    assert not list(fsdp.glob(".*.tmp*")) and not (fsdp / ".staging").exists(), "no half-written files left behind"
    return one, fsdp, log


@pytest.fixture(scope="module")
def pretrained(tiny_tokenizer, tmp_path_factory):
    root = tmp_path_factory.mktemp("fsdp_pretrain")
    return pair("pretrain", root, *PRETRAIN, "--tokenizer_name", str(tiny_tokenizer))


@pytest.fixture(scope="module")
def classified(tiny_lm, tmp_path_factory):
    root = tmp_path_factory.mktemp("fsdp_classify")
    return pair("classify", root, *CLASSIFY, "--model_name_or_path", str(tiny_lm), "--save_strategy", "epoch")


@pytest.fixture(scope="module")
def fine_tuned(tiny_lm, tmp_path_factory):
    return pair("sft", tmp_path_factory.mktemp("fsdp_sft"), *SFT, "--model_name_or_path", str(tiny_lm),
                "--save_strategy", "epoch")  # fmt: skip


@pytest.fixture(scope="module")
def lora(tiny_lm, tmp_path_factory):
    return pair("sft", tmp_path_factory.mktemp("fsdp_lora"), *LORA, "--model_name_or_path", str(tiny_lm),
                "--save_strategy", "epoch")  # fmt: skip


def ids(vocab_size):
    return torch.arange(2 * 24).reshape(2, 24) * 7 % vocab_size


def causal_lm_logits(folder):
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(folder).eval()
    with torch.no_grad():
        return model(ids(model.config.vocab_size)).logits


@pytest.mark.slow
def test_fsdp_pretrain_matches_one_process(pretrained):
    one, fsdp, log = pretrained
    assert sharded_by_fsdp(fsdp / "checkpoint-6"), "FSDP's checkpoint files: not accelerate's silent DDP on CPU"
    assert log.count(f"Model saved to {fsdp}:") == 1
    r1, r2 = results(one), results(fsdp)
    assert r2["train_tokens"] == r1["train_tokens"] == 8 * 8 * 32
    assert r2["eval_loss"] == pytest.approx(r1["eval_loss"], abs=1e-3)
    (s1, l1), (s2, l2) = zip(*step_losses(one), strict=True), zip(*step_losses(fsdp), strict=True)
    assert s1 == s2 == tuple(range(1, 9)) and l2 == pytest.approx(l1, abs=1e-4), "the same loss at every step"


@pytest.mark.slow
def test_fsdp_model_reloads_with_the_one_process_logits(pretrained):
    one, fsdp, _ = pretrained
    from safetensors.torch import load_file

    # The gathered full state dict keeps the tied head as its own tensor; it is the embedding, and reloads tied.
    weights = load_file(str(fsdp / "model.safetensors"))
    assert torch.equal(weights.pop("lm_head.weight"), weights["transformer.wte.weight"])
    assert weights.keys() == load_file(str(one / "model.safetensors")).keys()
    assert torch.allclose(causal_lm_logits(fsdp), causal_lm_logits(one), atol=1e-4)


@pytest.mark.slow
def test_fsdp_resumes_bit_exactly_after_a_rank_is_killed_mid_save(pretrained, tiny_tokenizer, tmp_path):
    """Rank 1 dies saving checkpoint-6 after rank 0 finished it: it lacks rank 1's RNG state and is not resumed."""
    _, reference, _ = pretrained
    out = tmp_path / "killed"
    command = [*PRETRAIN, "--tokenizer_name", str(tiny_tokenizer), "--per_device_train_batch_size", "4"]
    command += ["--output_dir", str(out)]
    launch_killed("pretrain", "rank1-save:6", *command, accelerate_config="cpu_fsdp.yaml")
    broken = out / "checkpoint-6"
    assert sharded_by_fsdp(broken) and (broken / "trainer_state.json").is_file(), "whole for rank 0"
    assert not (broken / "rng_state_1.pth").exists() and not (out / "results.json").exists()
    log = launch_fsdp("pretrain", *command)  # the same command again
    assert f"Resuming the unfinished run in {out} from {out / 'checkpoint-3'}" in log
    assert "Deleting incomplete checkpoints (killed while saving?): ['checkpoint-6']" in log
    assert max_weight_diff(reference, out) == 0, "bit for bit the weights of the uninterrupted run"
    assert step_losses(out) == step_losses(reference)


@pytest.mark.slow
def test_fsdp_classify_matches_one_process(classified):
    from transformers import AutoModelForSequenceClassification

    one, fsdp, log = classified
    assert sharded_by_fsdp(fsdp / "checkpoint-8") and log.count("Classifier saved to") == 1
    r1, r2 = results(one), results(fsdp)
    assert r2["train_loss"] == pytest.approx(r1["train_loss"], abs=1e-4)
    assert r2["eval_loss"] == pytest.approx(r1["eval_loss"], abs=1e-3)
    assert abs(r2["eval_accuracy"] - r1["eval_accuracy"]) <= 2 / 128, "at most 2 borderline predictions flip"
    logits = []
    for folder in (one, fsdp):
        model = AutoModelForSequenceClassification.from_pretrained(folder).eval()
        with torch.no_grad():
            logits.append(model(ids(model.config.vocab_size)).logits)
    assert torch.allclose(logits[1], logits[0], atol=1e-4)


@pytest.mark.slow
def test_fsdp_sft_matches_one_process(fine_tuned):
    one, fsdp, log = fine_tuned
    assert sharded_by_fsdp(fsdp / "checkpoint-8") and log.count("Saved to") == 1
    r1, r2 = results(one), results(fsdp)
    assert r2["train_tokens"] == r1["train_tokens"], "each row trained on once, by one rank"
    assert r2["eval_loss_before"] == pytest.approx(r1["eval_loss_before"], abs=1e-4)
    assert r2["eval_loss"] == pytest.approx(r1["eval_loss"], abs=1e-3) and r2["eval_loss"] < r2["eval_loss_before"]
    assert torch.allclose(causal_lm_logits(fsdp), causal_lm_logits(one), atol=1e-4)


@pytest.mark.slow
def test_fsdp_lora_sft_matches_one_process(lora):
    from peft import AutoPeftModelForCausalLM

    one, fsdp, log = lora
    assert sharded_by_fsdp(fsdp / "checkpoint-8") and log.count("Saved to") == 1
    r1, r2 = results(one), results(fsdp)
    assert r2["trainable_share"] == r1["trainable_share"] < 0.1 and r2["train_tokens"] == r1["train_tokens"]
    assert r2["eval_loss_before"] == pytest.approx(r1["eval_loss_before"], abs=1e-4)
    assert r2["eval_loss"] == pytest.approx(r1["eval_loss"], abs=1e-3)
    assert max_weight_diff(one, fsdp, "adapter_model.safetensors") <= 1e-6, "the adapter alone, as 1 process saves it"
    logits = []
    for folder in (one, fsdp):
        model = AutoPeftModelForCausalLM.from_pretrained(folder).eval()
        with torch.no_grad():
            logits.append(model(ids(model.config.vocab_size)).logits)
    assert torch.allclose(logits[1], logits[0], atol=1e-5)


def test_fsdp_configs_wrap_the_models_own_layer_class():
    """No config pins a layer class: accelerate wraps each class of the model's _no_split_modules, for any model."""
    from accelerate import FullyShardedDataParallelPlugin
    from accelerate.utils.fsdp_utils import fsdp2_prepare_auto_wrap_policy
    from transformers import GPT2Config, GPT2LMHeadModel, LlamaConfig, LlamaForCausalLM

    gpt2 = GPT2LMHeadModel(GPT2Config(n_layer=1, n_head=2, n_embd=32, vocab_size=64, bos_token_id=0, eos_token_id=0))
    llama = LlamaForCausalLM(
        LlamaConfig(num_hidden_layers=1, hidden_size=32, intermediate_size=64, num_attention_heads=2, vocab_size=64)
    )
    fsdp, cpu = (yaml.safe_load((ROOT / "accelerate_configs" / f).read_text())["fsdp_config"] for f in CONFIGS)
    assert cpu == fsdp, "CI on CPU runs the FSDP settings of the GPU config"
    assert fsdp["fsdp_version"] == 2 and "fsdp_transformer_layer_cls_to_wrap" not in fsdp
    assert fsdp["fsdp_state_dict_type"] == "FULL_STATE_DICT", "with a sharded state dict the Trainer saves no model"
    plugin = FullyShardedDataParallelPlugin(fsdp_version=2, auto_wrap_policy=fsdp["fsdp_auto_wrap_policy"])
    for model, layer in ((gpt2, "GPT2Block"), (llama, "LlamaDecoderLayer")):
        policy = fsdp2_prepare_auto_wrap_policy(plugin, model)
        assert {type(m).__name__ for m in model.modules() if policy(m)} == {layer}


# --- checkpoint completeness on the layouts FSDP and DeepSpeed write (the names torch, accelerate, DeepSpeed use)

LAYOUTS = {
    "fsdp-full": ["model.safetensors", "pytorch_model_fsdp.bin", "optimizer.bin", "scheduler.pt"],
    # SHARDED_STATE_DICT: torch.distributed.checkpoint folders, no model.safetensors
    "fsdp-sharded": [f"{d}/{f}" for d in ("pytorch_model_fsdp_0", "optimizer_0")
                     for f in (".metadata", "__0_0.distcp", "__1_0.distcp")] + ["scheduler.pt"],
    "zero2": ["model.safetensors", "latest", "global_step6/mp_rank_00_model_states.pt",
              "global_step6/bf16_zero_pp_rank_0_mp_rank_00_optim_states.pt",
              "global_step6/bf16_zero_pp_rank_1_mp_rank_00_optim_states.pt"],
    # ZeRO-3 without stage3_gather_16bit_weights_on_model_save: the partitions are the only weights
    "zero3": ["latest"] + [f"global_step6/zero_pp_rank_{r}_mp_rank_00_{kind}_states.pt" for r in (0, 1)
                           for kind in ("model", "optim")],
}  # fmt: skip
BROKEN = [  # (layout, what a rank killed mid-save leaves: files removed, files truncated)
    ("fsdp-full", ["rng_state_1.pth"], []),  # rank 1 killed before its RNG state, rank 0 finished
    ("fsdp-full", [], ["rng_state_1.pth"]),  # ... while writing it
    ("fsdp-full", [], ["optimizer.bin"]),
    ("fsdp-sharded", ["optimizer_0/.metadata"], []),  # a rank killed inside the collective save
    ("fsdp-sharded", ["rng_state_1.pth"], []),
    ("zero2", ["latest"], []),
    ("zero2", ["global_step6/bf16_zero_pp_rank_1_mp_rank_00_optim_states.pt"], []),
    ("zero2", [], ["global_step6/bf16_zero_pp_rank_0_mp_rank_00_optim_states.pt"]),
    ("zero3", ["global_step6/zero_pp_rank_1_mp_rank_00_model_states.pt"], []),
    ("zero3", [f"global_step6/zero_pp_rank_1_mp_rank_00_{kind}_states.pt" for kind in ("model", "optim")], []),
]


def write_checkpoint(folder, files):
    for name in [*files, "rng_state_0.pth", "rng_state_1.pth", "trainer_state.json"]:
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.suffix in (".pt", ".pth", ".bin"):
            with zipfile.ZipFile(path, "w") as f:  # torch.save writes zip files
                f.writestr("archive/data.pkl", b"state" * 20)
        else:
            path.write_text({"latest": "global_step6", "trainer_state.json": '{"global_step": 6}'}.get(name, "data"))
    return folder


@pytest.mark.parametrize("layout", LAYOUTS)
def test_whole_sharded_checkpoints_are_usable(layout, tmp_path):
    assert is_usable_checkpoint(write_checkpoint(tmp_path / "checkpoint-6", LAYOUTS[layout]))


@pytest.mark.parametrize(("layout", "removed", "truncated"), BROKEN)
def test_sharded_checkpoints_a_rank_was_killed_saving_are_not(layout, removed, truncated, tmp_path):
    folder = write_checkpoint(tmp_path / "checkpoint-6", LAYOUTS[layout])
    for name in removed:
        (folder / name).unlink()
    for name in truncated:
        (folder / name).write_bytes((folder / name).read_bytes()[:-30])
    assert not is_usable_checkpoint(folder)


def test_ranks_are_counted_from_every_per_rank_file(tmp_path):
    """Three ranks wrote FSDP shards but only two RNG states exist: rank 2 died before writing its own."""
    shards = [f"{d}/{f}" for d in ("pytorch_model_fsdp_0", "optimizer_0") for f in (".metadata", "__2_0.distcp")]
    assert not is_usable_checkpoint(write_checkpoint(tmp_path / "checkpoint-6", [*LAYOUTS["fsdp-sharded"], *shards]))
