"""Every GPU config, dry-run on CPU: the file as users launch it, with only its size and device overridden, against
stand-ins of its Hub model and corpus served under their real ids (conftest ``standin_hub``). A broken key, dataset or
launch line fails here, not on the GPU machine. Also the precision rule: the recipe's bf16/fp16 decide, and an
accelerate config that asks for another precision is a one-line error.

DeepSpeed is not installed here: its configs are checked for parsing (test_config) and for the precision rule below.
FSDP's settings run on CPU through accelerate_configs/cpu_fsdp.yaml (tests/test_fsdp.py).
"""

import json

import pytest
import yaml
from conftest import ROOT, launch, load_recipe

pytestmark = pytest.mark.slow
CONFIGS = ROOT / "recipes" / "configs"
ACCELERATE = ROOT / "accelerate_configs"
# Size and device only: one tiny layer, two steps, fp32 eager on CPU.
GPT2_TINY = ["--n_layer", "1", "--n_head", "2", "--n_embd", "32", "--block_size", "64", "--max_steps", "2"]
GPT2_TINY += ["--per_device_train_batch_size", "2", "--per_device_eval_batch_size", "2"]
GPT2_TINY += ["--gradient_accumulation_steps", "1", "--bf16", "false", "--torch_compile", "false"]
GPT2_TINY += ["--eval_steps", "2", "--max_eval_samples", "4"]


@pytest.fixture(scope="module")
def env(standin_hub, tmp_path_factory):
    return standin_hub.env(tmp_path_factory.mktemp("hf_home"))


def read(path):
    return json.loads(path.read_text(encoding="utf-8"))


def test_gpt2_small_streams_fineweb_edu(env, tmp_path):
    out = tmp_path / "gpt2-small"
    launch("pretrain", "--config", str(CONFIGS / "pretrain" / "gpt2_small.yaml"), *GPT2_TINY, "--output_dir", str(out),
           env=env)  # fmt: skip
    results, run_config = read(out / "results.json"), yaml.safe_load((out / "run_config.yaml").read_text())
    assert run_config["dataset_name"] == "HuggingFaceFW/fineweb-edu" and run_config["dataset_config"] == "sample-10BT"
    assert run_config["streaming"] and run_config["tokenizer_name"] == "openai-community/gpt2"
    assert results["train_steps"] == 2 and results["eval_loss"] > 0 and results["eval_bits_per_byte"] > 0
    # The throughput figures: 6N + 12LHQT by hand for this shape (vocab padded to 64, wpe out, tied wte in)
    vocab = read(out / "config.json")["vocab_size"]
    n = 12 * 32 * 32 + 13 * 32 + vocab * 32 + 2 * 32
    assert results["model_flops_per_token"] == 6 * n + 12 * 1 * 2 * 16 * 64
    assert results["train_tokens"] == 2 * 2 * 64 and results["achieved_tflops"] > 0
    assert results["mfu"] is None and results["device"] == "cpu" and results["precision"] == "fp32"


def test_gpt2_small_from_pretokenized_fineweb_edu(env, tmp_path):
    """The config header's other path: pretokenize.py once, then --dataset_name FOLDER --streaming false."""
    blocks = tmp_path / "fineweb-edu-gpt2"
    launch("pretokenize", "--dataset_name", "HuggingFaceFW/fineweb-edu", "--dataset_config", "sample-10BT",
           "--tokenizer_name", "openai-community/gpt2", "--block_size", "64", "--validation_split_percentage", "10",
           "--output_dir", str(blocks), env=env)  # fmt: skip
    out = tmp_path / "gpt2-small"
    launch("pretrain", "--config", str(CONFIGS / "pretrain" / "gpt2_small.yaml"), *GPT2_TINY,
           "--dataset_name", str(blocks), "--streaming", "false", "--output_dir", str(out), env=env)  # fmt: skip
    results = read(out / "results.json")
    assert results["train_steps"] == 2 and results["eval_loss"] > 0 and results["train_tokens"] == 256


def test_qlora_config(env, tmp_path):
    """QLoRA as the config says (4-bit NF4 Qwen2.5 with LoRA on every linear layer), bitsandbytes on CPU."""
    out = tmp_path / "qlora"
    size = ["--max_steps", "2", "--per_device_train_batch_size", "2", "--gradient_accumulation_steps", "1"]
    size += ["--max_train_samples", "8", "--max_eval_samples", "4", "--max_length", "128", "--bf16", "false"]
    launch("sft", "--config", str(CONFIGS / "sft" / "qlora.yaml"), "--load_in_4bit", "true", *size,
           "--output_dir", str(out), env=env)  # fmt: skip
    results = read(out / "results.json")
    assert results["train_steps"] == 2 and results["train_tokens"] > 0 and 0 < results["trainable_share"] < 0.5
    assert results["model_flops_per_token"] > 0 and results["mfu"] is None
    assert read(out / "adapter_config.json")["base_model_name_or_path"] == "Qwen/Qwen2.5-0.5B-Instruct"


# --- the precision rule


def test_accelerate_configs_leave_precision_to_the_recipe():
    for path in sorted(ACCELERATE.glob("*.yaml")):
        config = yaml.safe_load(path.read_text())
        if config["distributed_type"] == "DEEPSPEED":
            # accelerate refuses mixed_precision beside a deepspeed_config_file, whose "auto" follows the recipe
            assert "mixed_precision" not in config, path.name
            ds = read(ROOT / config["deepspeed_config"]["deepspeed_config_file"])
            assert ds["bf16"]["enabled"] == ds["fp16"]["enabled"] == "auto", path.name
        else:
            assert config["mixed_precision"] == "no", path.name


@pytest.mark.parametrize("recipe", ["pretrain", "sft", "classify"])
def test_launcher_precision_other_than_the_recipes_stops_before_loading(recipe, monkeypatch, tmp_path):
    from hfrecipes.errors import UserError

    monkeypatch.setenv("ACCELERATE_MIXED_PRECISION", "bf16")  # what `accelerate launch` exports from its config
    model = [] if recipe == "pretrain" else ["--model_name_or_path", "openai-community/gpt2"]
    with pytest.raises(UserError, match="mixed_precision 'bf16' but the recipe's config trains in fp32") as err:
        load_recipe(recipe).main([*model, "--output_dir", str(tmp_path / "out")])
    assert "--bf16 true" in str(err.value) and 'mixed_precision: "no"' in str(err.value)
    assert not (tmp_path / "out").exists()  # stopped before claiming the output folder
    monkeypatch.setenv("ACCELERATE_MIXED_PRECISION", "fp16")
    with pytest.raises(UserError, match="mixed_precision 'fp16' but the recipe's config trains in (bf16|fp32)"):
        load_recipe(recipe).main([*model, "--bf16", "true", "--use_cpu", "true", "--output_dir", str(tmp_path)])


def test_accelerate_config_asking_for_bf16_is_one_line(tmp_path):
    config = tmp_path / "cpu_bf16.yaml"
    config.write_text((ACCELERATE / "cpu.yaml").read_text().replace('mixed_precision: "no"', "mixed_precision: bf16"))
    proc = launch("pretrain", "--output_dir", str(tmp_path / "out"), check=False, accelerate_config=str(config))
    line = "error: the accelerate config sets mixed_precision 'bf16' but the recipe's config trains in fp32"
    # Plain accelerate launch adds its own traceback for a failed child (1.16 repeats the child's stderr in it too)
    recipe_output = proc.stderr.split("Traceback")[0].split("RuntimeError: ")[0]
    assert "exit status 2" in proc.stderr and recipe_output.rstrip().splitlines()[-1].startswith(line)


def test_bf16_without_hardware_support_is_one_line(tmp_path):
    import torch

    from hfrecipes.errors import UserError

    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    with pytest.raises(UserError, match="bf16"):  # TrainingArguments refuses it, parse_config makes it one line
        load_recipe("pretrain").main(["--bf16", "true", "--output_dir", str(tmp_path)])
