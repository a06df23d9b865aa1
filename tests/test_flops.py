"""Model FLOPs per token against hand counts (nanoGPT's 6N + 12·L·H·Q·T), the peak table, and MFU arithmetic."""

from types import SimpleNamespace

import pytest
import torch

from hfrecipes import training
from hfrecipes.modeling import parameter_numel
from hfrecipes.training import attention_length, model_flops_per_token, peak_flops, throughput_metrics


def gpt2(n_layer=12, n_head=12, n_embd=768, vocab=50257, positions=1024):
    from transformers import GPT2Config, GPT2LMHeadModel

    config = GPT2Config(n_layer=n_layer, n_head=n_head, n_embd=n_embd, vocab_size=vocab, n_positions=positions)
    with torch.device("meta"):  # shapes only: no memory, no init
        return GPT2LMHeadModel(config)


def test_gpt2_small_by_hand():
    # One block: ln_1 + ln_2 (2 x 2 x 768), c_attn 768 x 2304 + 2304, attn c_proj 768 x 768 + 768,
    # c_fc 768 x 3072 + 3072, mlp c_proj 3072 x 768 + 768.
    block = 4 * 768 + (768 * 2304 + 2304) + (768 * 768 + 768) + (768 * 3072 + 3072) + (3072 * 768 + 768)
    assert block == 7_087_872
    # nanoGPT's non-embedding count: wpe out, wte in (tied to the LM head, it multiplies every token), ln_f in.
    n = 12 * block + 50257 * 768 + 2 * 768
    assert n == 123_653_376 and n + 1024 * 768 == 124_439_808  # GPT-2 small's 124M with its position table
    attention = 12 * 12 * 12 * 64 * 1024  # 12 L H Q T
    model = gpt2()
    assert model_flops_per_token(model, 1024) == 6 * n + attention == 855_166_464
    assert model_flops_per_token(model, 256) == 6 * n + attention // 4  # T is the sequence length trained on


def test_untied_head_counts_and_input_embedding_does_not():
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(
        vocab_size=1000,
        hidden_size=64,
        intermediate_size=160,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        tie_word_embeddings=False,
    )
    with torch.device("meta"):
        model = LlamaForCausalLM(config)
    # q, o 64 x 64; k, v 64 x 32 (2 kv heads of 16); gate, up, down 64 x 160; two RMSNorms of 64
    block = 2 * 64 * 64 + 2 * 64 * 32 + 3 * 64 * 160 + 2 * 64
    n = 2 * block + 64 + 1000 * 64  # final norm, lm_head; embed_tokens (a lookup) left out as torchtitan does
    assert model_flops_per_token(model, 32) == 6 * n + 12 * 2 * 4 * 16 * 32


def test_frozen_weights_cost_four_flops_not_six():
    model = gpt2(n_layer=2, n_head=2, n_embd=32, vocab=100, positions=64)
    full = model_flops_per_token(model, 64)
    attention = 12 * 2 * 2 * 16 * 64
    model.requires_grad_(False)
    assert model_flops_per_token(model, 64) - attention == (full - attention) // 6 * 4


def test_lora_counts_its_adapters_as_trainable():
    from peft import LoraConfig, get_peft_model

    base = gpt2(n_layer=2, n_head=2, n_embd=32, vocab=100, positions=64).to_empty(device="cpu")
    n_base = model_flops_per_token(base, 0) // 6
    model = get_peft_model(base, LoraConfig(r=4, target_modules=["c_attn"], fan_in_fan_out=True))
    lora = 2 * (4 * 32 + 4 * 96)  # A (r x in) and B (out x r) of each c_attn
    assert model_flops_per_token(model, 0) == 4 * n_base + 6 * lora


def test_packed_4bit_weights_count_at_full_size():
    weight = torch.nn.Parameter(torch.zeros(16, 1, dtype=torch.uint8), requires_grad=False)  # 32 values, packed
    weight.quant_state = SimpleNamespace(shape=torch.Size([8, 4]))
    assert parameter_numel(weight) == 32
    partitioned = torch.nn.Parameter(torch.zeros(0))  # a ZeRO-3 shard on this rank
    partitioned.ds_numel = 1000
    assert parameter_numel(partitioned) == 1000


def test_attention_length_weights_by_tokens():
    from datasets import Dataset

    ds = Dataset.from_dict({"input_ids": [[1, 2], [1, 2, 3, 4]]})
    assert attention_length(ds, 99) == pytest.approx((2 * 2 + 4 * 4) / 6)
    assert attention_length(ds.to_iterable_dataset(), 99) == pytest.approx(20 / 6)
    assert attention_length(Dataset.from_dict({"text": ["a"]}), 99) == 99


@pytest.mark.parametrize(
    "name,precision,tflops",
    [
        ("NVIDIA H100 80GB HBM3", "bf16", 989),
        ("NVIDIA H100 PCIe", "bf16", 756),
        ("NVIDIA H100 NVL", "fp16", 835),
        ("NVIDIA H200", "bf16", 989),
        ("NVIDIA A100-SXM4-80GB", "bf16", 312),
        ("NVIDIA A100-PCIE-40GB", "bf16", 312),
        ("NVIDIA A10G", "bf16", 70),
        ("NVIDIA A10", "bf16", 125),
        ("NVIDIA L4", "bf16", 121),
        ("NVIDIA L40S", "bf16", 362),
        ("NVIDIA GeForce RTX 4090", "bf16", 165.2),
        ("Tesla T4", "fp16", 65),
        ("Tesla T4", "bf16", None),
        ("Tesla V100-SXM2-16GB", "fp16", 125),
        ("NVIDIA A100-SXM4-80GB", "fp32", None),
        ("NVIDIA RTX A4000", "bf16", None),  # not an A40
        ("cpu", "bf16", None),
    ],
)
def test_peak_table(name, precision, tflops):
    assert peak_flops(name, precision) == (tflops and pytest.approx(tflops * 1e12))


def test_throughput_on_cpu_has_no_mfu_and_on_a_gpu_divides_by_its_peak(monkeypatch):
    args = SimpleNamespace(bf16=False, fp16=False, device=torch.device("cpu"), world_size=2)
    cpu = throughput_metrics(1_000_000, tokens=50_000, runtime=10.0, args=args)
    assert cpu["train_tokens_per_second"] == 5000 and cpu["achieved_tflops"] == pytest.approx(2.5e9 / 1e12)
    assert cpu["mfu"] is None and cpu["peak_tflops"] is None and cpu["precision"] == "fp32" and cpu["device"] == "cpu"
    monkeypatch.setattr(training, "device_name", lambda device: "NVIDIA A100-SXM4-80GB")
    gpu = throughput_metrics(
        855_166_464, tokens=10**7, runtime=100.0, args=SimpleNamespace(**{**vars(args), "bf16": True})
    )
    per_gpu = 10**7 / 100 * 855_166_464 / 2
    assert gpu["mfu"] == pytest.approx(per_gpu / 312e12) and gpu["peak_tflops"] == 312 and gpu["precision"] == "bf16"
