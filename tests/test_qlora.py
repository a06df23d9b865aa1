"""QLoRA and bitsandbytes' 8-bit optimizers on CPU: SFT of GPT-2 and a Llama in 4 bits, merged into a full-precision
copy; pretraining and SFT with `--optim adamw_bnb_8bit` / `paged_adamw_8bit`; the errors where bitsandbytes cannot run.
"""

import importlib.metadata
import json
import logging
import math

import pytest
from conftest import load_recipe
from standins import GPT2, LLAMA32

from hfrecipes.config import parse_config
from hfrecipes.errors import UserError


def tiny_qlora(model, out, *extra):
    # fmt: off
    return ["--model_name_or_path", str(model), "--use_peft", "--load_in_4bit", "--merge_adapter",
            "--max_train_samples", "32", "--max_eval_samples", "16", "--max_steps", "4",
            "--per_device_train_batch_size", "8", "--per_device_eval_batch_size", "16", "--learning_rate", "1e-2",
            "--max_length", "128", "--logging_steps", "1", "--report_to", "none", "--output_dir", str(out), *extra]
    # fmt: on


def checkpoint_optimizer_state(checkpoint):
    """The optimizer state the Trainer saved (read back without unpickling code: weights_only)."""
    import torch

    return torch.load(checkpoint / "optimizer.pt", weights_only=True)


def assert_merged_full_precision(out, base):
    """The merged copy is plain float32 weights that reload alone and give the logits of base + adapter."""
    import torch
    from peft import PeftModel
    from safetensors import safe_open
    from transformers import AutoModelForCausalLM

    with safe_open(str(out / "model.safetensors"), "pt") as f:
        dtypes = {f.get_slice(k).get_dtype() for k in f.keys()}
        assert not any("absmax" in k or "quant" in k for k in f.keys()), "no 4-bit quantization state saved"
    assert dtypes == {"F32"}, dtypes
    assert (out / "adapter" / "adapter_model.safetensors").is_file() and not (out / "adapter_config.json").exists()
    merged = AutoModelForCausalLM.from_pretrained(out).eval()
    assert not any("4bit" in type(m).__name__ for m in merged.modules())
    reference = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(base), out / "adapter").eval()
    ids = torch.randint(0, 200, (2, 24), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        got, want = merged(ids).logits, reference(ids).logits
        with reference.disable_adapter():
            untrained = reference(ids).logits
    assert (got - want).abs().max().item() < 1e-4
    assert (got - untrained).abs().max().item() > 1e-4, "the adapter changed the model"


@pytest.mark.slow
def test_qlora_sft_of_gpt2_trains_4bit_layers_and_merges_into_float32(tiny_lm, tmp_path, caplog):
    from transformers import AutoModelForCausalLM

    out = tmp_path / "qlora"
    caplog.set_level(logging.INFO, logger="hfrecipes.modeling")
    args = ["--optim", "adamw_bnb_8bit", "--save_strategy", "steps", "--save_steps", "4"]
    load_recipe("sft").main(tiny_qlora(tiny_lm, out, *args))
    assert "Quantized to 4 bits (nf4): 4 bitsandbytes Linear4bit layers on cpu" in caplog.text
    r = json.loads((out / "results.json").read_text())
    assert r["quantization"] == "nf4" and r["train_steps"] == 4
    assert math.isfinite(r["eval_loss_before"]) and r["eval_loss"] < r["eval_loss_before"]
    # Parameters at their real count, not the packed 4-bit bytes (half the numel): the base's plus LoRA's
    base_params = AutoModelForCausalLM.from_pretrained(tiny_lm).num_parameters()
    assert r["num_parameters"] == base_params + r["trainable_parameters"]
    assert r["trainable_parameters"] == 16 * ((32 + 96) + (32 + 32) + (32 + 128) + (128 + 32))  # rank-16 A and B
    # The Trainer stepped bitsandbytes' AdamW (its state format), not torch's
    state = checkpoint_optimizer_state(out / "checkpoint-4")["state"]
    assert state and all("__bnb_optimizer_quant_state__" in s and "exp_avg" not in s for s in state.values())
    assert_merged_full_precision(out, tiny_lm)


@pytest.mark.slow
def test_qlora_sft_of_a_llama_with_a_paged_8bit_optimizer(standin_hub, tmp_path, caplog):
    llama = standin_hub.seeded["models"][LLAMA32]
    out = tmp_path / "llama"
    caplog.set_level(logging.INFO, logger="hfrecipes.modeling")
    args = ["--optim", "paged_adamw_8bit", "--save_strategy", "steps", "--save_steps", "4"]
    load_recipe("sft").main(tiny_qlora(llama, out, *args))
    # 2 layers x (q, k, v, o, gate, up, down); the tied embedding and LM head stay in full precision
    assert "Quantized to 4 bits (nf4): 14 bitsandbytes Linear4bit layers on cpu" in caplog.text
    r = json.loads((out / "results.json").read_text())
    assert r["quantization"] == "nf4" and math.isfinite(r["eval_loss_before"])
    assert r["eval_loss"] < r["eval_loss_before"]
    assert r["num_parameters"] > 2 * r["trainable_parameters"] > 0
    # Paged optimizers run on CPU as plain ones (bitsandbytes warns that it does not page there)
    state = checkpoint_optimizer_state(out / "checkpoint-4")["state"]
    assert state and all("__bnb_optimizer_quant_state__" in s for s in state.values())
    assert_merged_full_precision(out, llama)


@pytest.mark.slow
def test_qlora_merge_keeps_the_rows_of_tokens_added_for_chatml(standin_hub, tmp_path):
    """GPT-2 has no chat template: ChatML's tokens grow the (unquantized, trained) embedding, which the merged copy
    must carry, as the repo's own reloading of the adapter over its grown base does."""
    import torch
    from transformers import AutoModelForCausalLM

    from hfrecipes.modeling import PretrainedModelArguments, load_causal_lm, load_tokenizer

    gpt2 = standin_hub.seeded["models"][GPT2]
    out = tmp_path / "gpt2"
    load_recipe("sft").main(tiny_qlora(gpt2, out))
    merged = AutoModelForCausalLM.from_pretrained(out).eval()
    tokenizer = load_tokenizer(str(out), add_pad=False)
    assert merged.get_input_embeddings().num_embeddings >= len(tokenizer) > 957  # the stand-in's own vocabulary
    reference = load_causal_lm(PretrainedModelArguments(model_name_or_path=str(out / "adapter")), tokenizer=tokenizer)
    ids = torch.tensor([tokenizer.convert_tokens_to_ids(["<|im_start|>", "<|im_end|>"]) + [5, 6, 7]])
    with torch.no_grad():
        assert (merged(ids).logits - reference.eval()(ids).logits).abs().max().item() < 1e-4


@pytest.mark.slow
def test_pretrain_with_8bit_adamw_keeps_8bit_optimizer_state(tiny_tokenizer, tmp_path):
    import torch

    out = tmp_path / "pretrain"
    # fmt: off
    load_recipe("pretrain").main(
        ["--tokenizer_name", str(tiny_tokenizer), "--n_layer", "1", "--n_head", "2", "--n_embd", "32",
         "--block_size", "64", "--max_train_samples", "200", "--max_eval_samples", "50", "--max_steps", "4",
         "--max_train_minutes", "0", "--per_device_train_batch_size", "8", "--learning_rate", "3e-3",
         "--optim", "adamw_bnb_8bit", "--save_strategy", "steps", "--save_steps", "4", "--report_to", "none",
         "--output_dir", str(out)]
    )
    # fmt: on
    r = json.loads((out / "results.json").read_text())
    assert r["train_steps"] == 4 and math.isfinite(r["eval_loss"])
    state = checkpoint_optimizer_state(out / "checkpoint-4")["state"]
    quantized = [s["__bnb_optimizer_quant_state__"] for s in state.values()]
    # Tensors of 4096+ values (the embedding, the MLP) keep both Adam moments in 8 bits, smaller ones in 32
    eight_bit = [q for q in quantized if q["state1"].dtype == torch.uint8]
    assert eight_bit and all(q["state2"].dtype == torch.uint8 and "qmap1" in q for q in eight_bit)


def test_qlora_errors_come_before_any_model_loads(tmp_path, monkeypatch):
    sft = load_recipe("sft")
    missing = ["--model_name_or_path", str(tmp_path / "no-model"), "--output_dir", str(tmp_path / "out")]
    with pytest.raises(UserError, match="--load_in_4bit trains LoRA adapters on a quantized model; add --use_peft"):
        parse_config(sft.CONFIG_CLASSES, [*missing, "--load_in_4bit"])

    def not_installed(name):
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(importlib.metadata, "version", not_installed)
    with pytest.raises(UserError) as err:
        parse_config(sft.CONFIG_CLASSES, [*missing, "--load_in_4bit", "--use_peft"])
    assert str(err.value) == (
        "--load_in_4bit needs bitsandbytes, which is not installed; pip install 'bitsandbytes>=0.46.1', "
        "or drop --load_in_4bit (plain LoRA)"
    )


def test_bitsandbytes_optimizers_name_the_version_they_need(monkeypatch):
    import torch

    from hfrecipes.modeling import bitsandbytes_optimizer_problem

    assert bitsandbytes_optimizer_problem("adamw_torch") is None
    assert bitsandbytes_optimizer_problem("adamw_bnb_8bit") is None  # the installed bitsandbytes runs them here
    assert bitsandbytes_optimizer_problem("paged_adamw_8bit") is None
    monkeypatch.setattr(importlib.metadata, "version", lambda name: "0.49.2")
    if not torch.cuda.is_available():
        assert bitsandbytes_optimizer_problem("paged_adamw_8bit") == (
            "--optim paged_adamw_8bit needs bitsandbytes >= 0.50.0 here, not 0.49.2; pip install -U bitsandbytes"
        )
