"""--model_type llama: a tiny Llama (RoPE, RMSNorm, SwiGLU, GQA) pretrained from scratch, then fine-tuned by every
downstream recipe (SFT with the chat template cloned in and LoRA, classify, generate), each output reloaded with
transformers' Auto classes; the card and the push inputs. All in-process, tiny shapes, a few steps each."""

import json
import math
import shutil

import pytest
import torch
from conftest import load_recipe

from hfrecipes.modeling import ModelArguments, llama_config, swiglu_size
from hfrecipes.training import model_flops_per_token

# 1 block of 32, 4 query heads of 8 sharing 2 key/value heads; SwiGLU 8/3 x 32 rounded up to 96; SFT's context 64
SHAPE = {"n_layer": 1, "n_head": 4, "n_kv_head": 2, "n_embd": 32, "block_size": 32, "n_positions": 64}
# fmt: off
PRETRAIN = ["--config", "recipes/configs/pretrain/llama.yaml", "--max_train_samples", "200",
            "--max_eval_samples", "40", "--max_steps", "12", "--max_train_minutes", "0",
            "--per_device_train_batch_size", "8", "--learning_rate", "3e-3", "--logging_steps", "4",
            "--save_strategy", "no", "--report_to", "none", *(a for k, v in SHAPE.items() for a in (f"--{k}", str(v)))]
# fmt: on


class FakeTokenizer:
    bos_token_id = eos_token_id = 0
    pad_token_id = 1

    def __len__(self):
        return 500


@pytest.fixture(scope="module")
def llama_lm(tiny_tokenizer, tmp_path_factory):
    out = tmp_path_factory.mktemp("llama") / "pretrain"
    load_recipe("pretrain").main([*PRETRAIN, "--tokenizer_name", str(tiny_tokenizer), "--output_dir", str(out)])
    return out


def results(out) -> dict:
    return json.loads((out / "results.json").read_text())


def test_shape_checks():
    with pytest.raises(ValueError, match=r"n_kv_head \(3\) must divide n_head \(4\): one of 1, 2, 4"):
        ModelArguments(model_type="llama", n_head=4, n_kv_head=3)
    with pytest.raises(ValueError, match="n_kv_head shapes a llama model; add --model_type llama"):
        ModelArguments(n_kv_head=2)  # GPT-2, the default, has no key/value heads of its own
    args = ModelArguments(model_type="llama", n_head=4, n_embd=128)
    assert (args.n_kv_head, args.intermediate_size, args.rope_theta) == (4, 352, 10000.0)
    assert ModelArguments().model_type == "gpt2" and ModelArguments().n_kv_head is None
    assert [swiglu_size(n) for n in (32, 64, 128, 768, 4096)] == [96, 192, 352, 2048, 10944]


def test_llama_flops_by_hand():
    args = ModelArguments(model_type="llama", n_layer=2, n_head=4, n_kv_head=2, n_embd=64, block_size=32)
    with torch.device("meta"):
        from transformers import LlamaForCausalLM

        model = LlamaForCausalLM(llama_config(args, FakeTokenizer()))
    assert model.lm_head.weight is model.model.embed_tokens.weight, "tied, as GPT-2's"
    # q, o 64 x 64; k, v 64 x 32 (2 kv heads of 16); gate, up, down 64 x 192 (SwiGLU's 3); two RMSNorms of 64
    block = 2 * 64 * 64 + 2 * 64 * 32 + 3 * 64 * 192 + 2 * 64
    n = 2 * block + 64 + 512 * 64  # final norm; the tied table counts once, as the output layer (vocab padded to 64)
    attention = 12 * 2 * 4 * 16 * 32  # 12 L H Q T with the 4 query heads: GQA shares k/v, not the scores
    assert model_flops_per_token(model, 32) == 6 * n + attention == 837_504


def test_attention_dropout_defaults_to_dropout_and_sets_the_attention_weights_alone():
    from transformers import GPT2Config

    from hfrecipes.modeling import build_gpt2

    def gpt2(**kw) -> GPT2Config:
        with torch.device("meta"):
            return build_gpt2(ModelArguments(n_layer=1, n_embd=32, block_size=16, **kw), FakeTokenizer()).config

    same = gpt2(dropout=0.1)
    assert same.attn_pdrop == same.resid_pdrop == same.embd_pdrop == 0.1
    apart = gpt2(dropout=0.1, attention_dropout=0.0)
    assert (apart.attn_pdrop, apart.resid_pdrop, apart.embd_pdrop) == (0.0, 0.1, 0.1)
    assert gpt2().attn_pdrop == 0.0
    llama = llama_config(ModelArguments(model_type="llama", dropout=0.1, attention_dropout=0.05), FakeTokenizer())
    assert llama.attention_dropout == 0.05
    with pytest.raises(ValueError, match=r"attention_dropout must be in \[0, 1\)"):
        ModelArguments(attention_dropout=1.0)
    with pytest.raises(ValueError, match="attention_dropout shapes a new model"):
        ModelArguments(model_name_or_path="openai-community/gpt2", attention_dropout=0.0)


def test_pretrained_llama(llama_lm, tiny_tokenizer):
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer, LlamaConfig

    from hfrecipes.cards import card_for_repo
    from hfrecipes.hub import files_to_push

    config = AutoConfig.from_pretrained(llama_lm)
    assert isinstance(config, LlamaConfig) and config.architectures == ["LlamaForCausalLM"]
    assert (config.num_hidden_layers, config.hidden_size, config.intermediate_size) == (1, 32, 96)
    assert (config.num_attention_heads, config.num_key_value_heads) == (4, 2), "GQA"
    assert config.rope_parameters["rope_theta"] == 10000.0 and config.hidden_act == "silu" and config.rms_norm_eps
    assert config.tie_word_embeddings and config.max_position_embeddings == 64
    tokenizer = AutoTokenizer.from_pretrained(tiny_tokenizer)
    ids = (tokenizer.bos_token_id, tokenizer.eos_token_id, tokenizer.pad_token_id)
    assert (config.bos_token_id, config.eos_token_id, config.pad_token_id) == ids
    model = AutoModelForCausalLM.from_pretrained(llama_lm)
    names = {type(m).__name__ for m in model.modules()}
    assert {"LlamaRMSNorm", "LlamaRotaryEmbedding", "LlamaMLP"} <= names and "LayerNorm" not in names

    r = results(llama_lm)
    assert r["train_steps"] == 12 and r["train_tokens"] == 12 * 8 * 32
    assert math.isfinite(r["eval_loss"]) and r["eval_loss"] < math.log(512), "learned something in 12 steps"
    assert 0.5 < r["eval_bits_per_byte"] < 5 and r["perplexity"] == pytest.approx(math.exp(r["eval_loss"]), rel=1e-3)
    assert r["model_flops_per_token"] == model_flops_per_token(model, 32)
    achieved = r["train_tokens"] * r["model_flops_per_token"] / r["train_runtime"] / 1e12
    assert r["achieved_tflops"] == pytest.approx(achieved, rel=1e-6) and (r["mfu"] is None or 0 < r["mfu"] < 1)
    card = (llama_lm / "README.md").read_text()
    assert "`LlamaForCausalLM`" in card and "model_type: llama" in card and "n_kv_head: 2" in card
    # What a push uploads: the weights, config and tokenizer, and the card pointed at the repo
    pushed = {rel for rel, _ in files_to_push(llama_lm)}
    assert {"model.safetensors", "config.json", "tokenizer.json", "results.json", "loss_curve.png"} <= pushed
    assert 'model="alice/tiny-llama"' in card_for_repo(llama_lm, "alice/tiny-llama")


def test_sft_classify_generate(llama_lm, tmp_path, capsys):
    from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification, AutoTokenizer

    # SFT from a copy whose tokenizer has no chat template: ChatML is cloned in; LoRA on every linear layer
    base = tmp_path / "base"
    shutil.copytree(llama_lm, base, ignore=shutil.ignore_patterns("README.md", "*.png", "runs"))
    (base / "chat_template.jinja").unlink(missing_ok=True)
    tokenizer_config = json.loads((base / "tokenizer_config.json").read_text())
    tokenizer_config.pop("chat_template", None)
    (base / "tokenizer_config.json").write_text(json.dumps(tokenizer_config))
    assert not AutoTokenizer.from_pretrained(base).chat_template
    sft = tmp_path / "sft"
    # fmt: off
    load_recipe("sft").main(["--model_name_or_path", str(base), "--max_train_samples", "24", "--max_eval_samples", "8",
                             "--max_length", "64", "--num_train_epochs", "1", "--per_device_train_batch_size", "8",
                             "--learning_rate", "1e-2", "--use_peft", "--lora_r", "4", "--report_to", "none",
                             "--output_dir", str(sft)])
    # fmt: on
    r = results(sft)
    # rank 4 on q 32->32, k 32->16, v 32->16, o 32->32, gate 32->96, up 32->96, down 96->32 of the one block
    assert r["trainable_parameters"] == 4 * (64 + 48 + 48 + 64 + 128 + 128 + 128)
    assert math.isfinite(r["eval_loss"]) and 0 < r["train_steps"] <= 3
    tokenizer = AutoTokenizer.from_pretrained(sft)
    assert "<|im_start|>" in tokenizer.chat_template and tokenizer.eos_token == "<|im_end|>"
    tuned = AutoModelForCausalLM.from_pretrained(sft)  # the adapter on its base, through transformers' peft support
    assert type(tuned).__name__ == "LlamaForCausalLM" and any("lora_A" in name for name, _ in tuned.named_parameters())

    # Classify: a LlamaForSequenceClassification head that pools the last token that is not padding
    clf = tmp_path / "classify"
    # fmt: off
    load_recipe("classify").main(["--model_name_or_path", str(llama_lm), "--max_seq_length", "32",
                                  "--per_device_train_batch_size", "16", "--max_steps", "4",
                                  "--max_train_minutes", "0", "--max_eval_samples", "32", "--learning_rate", "3e-3",
                                  "--warmup_steps", "0", "--eval_strategy", "no", "--save_strategy", "no",
                                  "--report_to", "none", "--output_dir", str(clf)])
    # fmt: on
    assert 0 <= results(clf)["eval_accuracy"] <= 1
    classifier = AutoModelForSequenceClassification.from_pretrained(clf).eval()
    tokenizer = AutoTokenizer.from_pretrained(clf)
    assert type(classifier).__name__ == "LlamaForSequenceClassification"
    assert classifier.config.pad_token_id == tokenizer.pad_token_id and len(classifier.config.id2label) == 5
    texts = ["Open a file.", "Return the number of items in a container, counting each once."]
    with torch.no_grad():
        padded = classifier(**tokenizer(texts, padding=True, return_tensors="pt")).logits[0]
        alone = classifier(**tokenizer(texts[:1], return_tensors="pt")).logits[0]
    assert torch.allclose(padded, alone, atol=1e-5), "padding changes nothing"

    # Generate: plain text from the pretrained model, a chat reply from the SFT adapter
    generate = load_recipe("generate")
    capsys.readouterr()
    generate.main(["--model_name_or_path", str(llama_lm), "--prompt", "The json module", "--max_new_tokens", "8"])
    text = capsys.readouterr().out.strip()
    assert text.startswith("The json module") and len(text) > len("The json module")
    generate.main(["--model_name_or_path", str(sft), "--prompt", "What is `os`?", "--max_new_tokens", "8"])
    assert "assistant: " in capsys.readouterr().out
