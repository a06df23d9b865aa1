"""Offline stand-ins of real Hub repos, served by tests/hub_server.py under their real ids.

Each stand-in is built here, never downloaded: a tiny random-weight model (a few layers, float32 safetensors) whose
``config.json``, ``generation_config.json``, ``tokenizer_config.json`` and ``special_tokens_map.json`` are written the
way the real repo publishes them (same keys, same legacy spellings, same special tokens and ids relative to the
vocabulary, same chat template), and a byte-level BPE trained with ``tokenizers`` on the embedded corpus
(``hfrecipes.corpus``). Datasets come in the Hub's parquet layout (the real file paths, a README whose YAML lists
``configs:`` and, where the real one does, ``dataset_info:``), filled with small slices of the real data under
``/work/shared/data`` (``HFRECIPES_SHARED_DATA``) or, where that folder is absent, with text from the embedded corpus.
What each stand-in reproduces, and where the real values were read, is written above its builder.

    seed_hub(server, cache_dir)             # builds once (cached by VERSION and sources), then adds every repo
    python tests/standins.py --port 8765    # serves them until Ctrl-C (HF_ENDPOINT=http://127.0.0.1:8765)
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("HFRECIPES_SHARED_DATA", ROOT.parent / "shared" / "data"))
VERSION = "2"  # bump when anything built below changes (2: the datasets of lm-eval tasks)
SEED = 0

GPT2 = "openai-community/gpt2"
SMOLLM2 = "HuggingFaceTB/SmolLM2-135M-Instruct"
QWEN25 = "Qwen/Qwen2.5-0.5B-Instruct"
LLAMA32 = "meta-llama/Llama-3.2-1B-Instruct"
GLUE = "nyu-mll/glue"
FINEWEB_EDU = "HuggingFaceFW/fineweb-edu"
ULTRACHAT = "HuggingFaceH4/ultrachat_200k"
ALPACA = "tatsu-lab/alpaca"
# Ids no real repo has: copies of the gpt2 and alpaca stand-ins behind a "manual" gate, for gated-repo errors.
GATED_MODEL = "hfrecipes-tests/gated-gpt2"
GATED_DATASET = "hfrecipes-tests/gated-alpaca"
MODELS = (GPT2, SMOLLM2, QWEN25, LLAMA32)
DATASETS = (GLUE, FINEWEB_EDU, ULTRACHAT, ALPACA)


# --- tokenizers


def _training_text() -> list[str]:
    from hfrecipes.corpus import load_python_docs

    return list(load_python_docs()["train"]["text"])


def _bpe(texts: list[str], n_merges: int, pre_tokenizer, normalizer=None, leading_specials=(), extra_vocab=()):
    """A byte-level BPE: ``leading_specials`` take the first ids (trained in), ``extra_vocab`` the last model ids."""
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.normalizer = normalizer
    tok.pre_tokenizer = pre_tokenizer
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=len(leading_specials) + 256 + n_merges,
        special_tokens=[AddedToken(t, special=True, normalized=False) for t in leading_specials],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        min_frequency=2,
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer)
    if extra_vocab:  # tokens the real vocab.json holds after the merges (GPT-2's <|endoftext|>)
        data = json.loads(tok.to_str())
        for token in extra_vocab:
            data["model"]["vocab"][token] = len(data["model"]["vocab"])
        tok = Tokenizer.from_str(json.dumps(data))
    return tok


def _add_tokens(tok, tokens: list[tuple[str, bool]]) -> None:
    """Appends added tokens in order (``(content, special)``), as the real tokenizer.json lists them."""
    from tokenizers import AddedToken

    for content, special in tokens:
        token = AddedToken(content, special=special, normalized=False)
        (tok.add_special_tokens if special else tok.add_tokens)([token])
        assert tok.token_to_id(content) == tok.get_vocab_size(with_added_tokens=True) - 1, content


def _added_tokens_decoder(tok, contents) -> dict:
    return {
        str(tok.token_to_id(c)): {
            "content": c,
            "lstrip": False,
            "normalized": False,
            "rstrip": False,
            "single_word": False,
            "special": special,
        }
        for c, special in contents
    }


def _token_map(content: str) -> dict:
    return {"content": content, "lstrip": False, "normalized": False, "rstrip": False, "single_word": False}


def _write_json(path: Path, data: dict) -> None:
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


# --- models


def _save_model(folder: Path, config: dict, generation_config: dict | None) -> None:
    """Random weights (fixed seed) for the hand-written ``config.json``, saved next to it as float32 safetensors.

    The JSON files stay as written (the real repos' spellings: ``torch_dtype``, ``rope_scaling``, ...) rather than
    what this transformers version's ``save_pretrained`` would write, so loading goes through the same conversions.
    """
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    _write_json(folder / "config.json", config)
    torch.manual_seed(SEED)
    model = AutoModelForCausalLM.from_config(AutoConfig.from_pretrained(folder), dtype=torch.float32)
    with tempfile.TemporaryDirectory() as tmp:
        model.save_pretrained(tmp)
        shutil.copy(Path(tmp) / "model.safetensors", folder / "model.safetensors")
    if generation_config is not None:
        _write_json(folder / "generation_config.json", generation_config)


# openai-community/gpt2. Reproduced: GPT2LMHeadModel with tied embeddings; byte-level BPE with GPT-2's pre-tokenizer
# (ByteLevel, regex on, no prefix space) whose vocab.json ends with <|endoftext|> (id 50256 of 50257 on the Hub: the
# last id here), so embedding rows == len(tokenizer); bos = eos = unk = <|endoftext|> by GPT2Tokenizer's defaults;
# no pad token; no chat template; tokenizer_config.json is only {"model_max_length": 1024} (no tokenizer_class: the
# class comes from config.json's model_type); no special_tokens_map.json; n_ctx = n_positions = 1024;
# generation_config {"_from_model_config": true, bos/eos 50256}; files vocab.json, merges.txt, tokenizer.json.
# Read from: GPT2Config defaults of the real checkpoint (search "gpt2 config.json n_positions 1024", e.g.
# spencerbraun/editable_nlp src/config.py: vocab 50257, n_positions/n_ctx 1024, bos/eos 50256), the GPT-2 model card
# ("vocabulary size of 50,257 ... sequences of 1024 tokens"), transformers' GPT2Tokenizer defaults (site-packages); the
# one-key tokenizer_config.json and the generation_config are from memory of the repo (not found in the index).
# Tiny: n_embd 32, n_layer 2, n_head 2, 700 merges.
def build_gpt2(folder: Path, texts: list[str]) -> None:
    from tokenizers import pre_tokenizers, processors

    tok = _bpe(
        texts, 700, pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True), extra_vocab=["<|endoftext|>"]
    )
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    _add_tokens(tok, [("<|endoftext|>", True)])
    tok.save(str(folder / "tokenizer.json"))
    tok.model.save(str(folder))  # vocab.json, merges.txt
    _write_json(folder / "tokenizer_config.json", {"model_max_length": 1024})
    eot = tok.token_to_id("<|endoftext|>")
    config = {
        "activation_function": "gelu_new",
        "architectures": ["GPT2LMHeadModel"],
        "attn_pdrop": 0.1,
        "bos_token_id": eot,
        "embd_pdrop": 0.1,
        "eos_token_id": eot,
        "initializer_range": 0.02,
        "layer_norm_epsilon": 1e-05,
        "model_type": "gpt2",
        "n_ctx": 1024,
        "n_embd": 32,
        "n_head": 2,
        "n_layer": 2,
        "n_positions": 1024,
        "resid_pdrop": 0.1,
        "summary_activation": None,
        "summary_first_dropout": 0.1,
        "summary_proj_to_labels": True,
        "summary_type": "cls_index",
        "summary_use_proj": True,
        "task_specific_params": {"text-generation": {"do_sample": True, "max_length": 50}},
        "vocab_size": tok.get_vocab_size(with_added_tokens=True),
    }
    generation = {
        "_from_model_config": True,
        "bos_token_id": eot,
        "eos_token_id": eot,
        "transformers_version": "4.26.0.dev0",
    }
    _save_model(folder, config, generation)


# HuggingFaceTB/SmolLM2-135M-Instruct. Reproduced: LlamaForCausalLM with tied embeddings and GQA (9 heads / 3 kv
# heads there, 3 / 1 here); the 17 special tokens at ids 0-16 (<|endoftext|>, <|im_start|>, <|im_end|>, <repo_name>,
# ... <empty_output>) trained into the vocab, so vocab_size == embedding rows == len(tokenizer); bos <|im_start|> (1),
# eos <|im_end|> (2), pad <|im_end|> (2, the same as eos), unk <|endoftext|> (0); additional_special_tokens
# [<|im_start|>, <|im_end|>]; tokenizer_class GPT2Tokenizer; model_max_length 8192 = max_position_embeddings;
# ChatML template that adds "You are a helpful AI assistant named SmolLM, trained by Hugging Face" when the chat has no
# system turn; config bos/eos/pad 1/2/2; rope_theta 100000. Read from: the template verbatim in a GGUF dump
# (find_string "named SmolLM, trained by Hugging Face<|im_end|>": a Rust test's SMOLLM2_TEMPLATE), tokens 0-16 from
# the tokenizer_config.json of SmolLM2 derivatives on Hub mirrors (pages: viktoroo/SmolLM2-360M-Tools), the base
# config (SmolLM2-135M config.json in several repos: 576/30/9/3, vocab 49152, tie true, rope_theta 100000); the
# Instruct ids 1/2/2 and the Digits pre-tokenizer step are from memory of the repo. Tiny: hidden 48, 2 layers.
SMOLLM2_SPECIALS = tuple(
    "<|endoftext|> <|im_start|> <|im_end|> <repo_name> <reponame> <file_sep> <filename> <gh_stars> <issue_start> "
    "<issue_comment> <issue_closed> <jupyter_start> <jupyter_text> <jupyter_code> <jupyter_output> <jupyter_script> "
    "<empty_output>".split()
)
SMOLLM2_CHAT_TEMPLATE = (
    "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
    "{{ '<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n' }}"
    "{% endif %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


def build_smollm2(folder: Path, texts: list[str]) -> None:
    from tokenizers import pre_tokenizers, processors

    pre = pre_tokenizers.Sequence(
        [pre_tokenizers.Digits(individual_digits=True), pre_tokenizers.ByteLevel(add_prefix_space=False)]
    )
    tok = _bpe(texts, 800, pre, leading_specials=SMOLLM2_SPECIALS)
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    assert [tok.token_to_id(t) for t in SMOLLM2_SPECIALS] == list(range(len(SMOLLM2_SPECIALS)))
    tok.save(str(folder / "tokenizer.json"))
    tok.model.save(str(folder))
    vocab = tok.get_vocab_size(with_added_tokens=True)
    specials = {"bos_token": "<|im_start|>", "eos_token": "<|im_end|>", "pad_token": "<|im_end|>"}
    specials["unk_token"] = "<|endoftext|>"
    _write_json(
        folder / "tokenizer_config.json",
        {
            "add_prefix_space": False,
            "added_tokens_decoder": _added_tokens_decoder(tok, [(t, True) for t in SMOLLM2_SPECIALS]),
            "additional_special_tokens": ["<|im_start|>", "<|im_end|>"],
            "bos_token": "<|im_start|>",
            "chat_template": SMOLLM2_CHAT_TEMPLATE,
            "clean_up_tokenization_spaces": False,
            "eos_token": "<|im_end|>",
            "model_max_length": 8192,
            "pad_token": "<|im_end|>",
            "tokenizer_class": "GPT2Tokenizer",
            "unk_token": "<|endoftext|>",
            "vocab_size": vocab,
        },
    )
    special_map = {"additional_special_tokens": ["<|im_start|>", "<|im_end|>"]}
    special_map.update({k: _token_map(v) for k, v in specials.items()})
    _write_json(folder / "special_tokens_map.json", special_map)
    config = {
        "architectures": ["LlamaForCausalLM"],
        "attention_bias": False,
        "attention_dropout": 0.0,
        "bos_token_id": 1,
        "eos_token_id": 2,
        "head_dim": 16,
        "hidden_act": "silu",
        "hidden_size": 48,
        "initializer_range": 0.041666666666666664,
        "intermediate_size": 128,
        "is_llama_config": True,
        "max_position_embeddings": 8192,
        "mlp_bias": False,
        "model_type": "llama",
        "num_attention_heads": 3,
        "num_hidden_layers": 2,
        "num_key_value_heads": 1,
        "pad_token_id": 2,
        "pretraining_tp": 1,
        "rms_norm_eps": 1e-05,
        "rope_interleaved": False,
        "rope_scaling": None,
        "rope_theta": 100000,
        "tie_word_embeddings": True,
        "torch_dtype": "float32",  # bfloat16 on the Hub; float32 here so CPU tests compare exactly
        "transformers_version": "4.42.3",
        "use_cache": True,
        "vocab_size": vocab,
    }
    generation = {"bos_token_id": 1, "eos_token_id": 2, "pad_token_id": 2, "transformers_version": "4.42.3"}
    _save_model(folder, config, generation)


# Qwen/Qwen2.5-0.5B-Instruct. Reproduced: Qwen2ForCausalLM (q/k/v biases, GQA, tied embeddings); Qwen2's tokenizer
# (NFC, the Split regex that isolates single digits, ByteLevel without regex) whose 22 added tokens follow the BPE
# vocab in the real order (<|endoftext|>, <|im_start|>, <|im_end|>, <|object_ref_start|> ... <|video_pad|> special;
# <tool_call>, </tool_call>, <|fim_*|>, <|repo_name|>, <|file_sep|> not special); SPARE embedding rows (the Hub has
# 151936 rows for 151665 tokens: 271 spare; here 1280 rows for 1022 tokens); bos_token null, eos <|im_end|>, pad
# <|endoftext|> (distinct from eos); model_max_length 131072 vs max_position_embeddings 32768; tokenizer_class
# Qwen2Tokenizer, errors "replace", split_special_tokens false; config bos = <|endoftext|>, eos = <|im_end|>;
# generation_config eos [<|im_end|>, <|endoftext|>], pad <|endoftext|>, do_sample with temperature 0.7, top_p 0.8,
# top_k 20, repetition_penalty 1.1; the chat template verbatim (tools included), with its default system turn "You
# are Qwen, created by Alibaba Cloud. You are a helpful assistant.". Read from: the template in a Jinja test suite
# (find_string "Alibaba Cloud. You are a helpful assistant.' }}": a Swift Jinja port's ChatTemplateTests, test
# "Qwen/Qwen2.5-0.5B-Instruct", with its expected rendering), the added tokens and bos null from an annotated
# tokenizer_config.json of Qwen2.5, config.json from a Rust test's QWEN2_5_CONFIG
# (896/24/14/2, vocab 151936, bos 151643, eos 151645, tie true, rope_theta 1e6), generation_config from a test fixture
# ("qwen": eos [151645, 151643], pad 151643, top_k 20; repetition_penalty 1.05 there is the 7B's, 1.1 the 0.5B's from
# memory). Tiny: hidden 64, 4 heads, 2 kv heads, 2 layers.
QWEN_ADDED = [
    *[(t, True) for t in "<|endoftext|> <|im_start|> <|im_end|> <|object_ref_start|> <|object_ref_end|>".split()],
    *[(t, True) for t in "<|box_start|> <|box_end|> <|quad_start|> <|quad_end|> <|vision_start|>".split()],
    *[(t, True) for t in "<|vision_end|> <|vision_pad|> <|image_pad|> <|video_pad|>".split()],
    *[(t, False) for t in "<tool_call> </tool_call> <|fim_prefix|> <|fim_middle|> <|fim_suffix|> <|fim_pad|>".split()],
    *[(t, False) for t in "<|repo_name|> <|file_sep|>".split()],
]
QWEN_PATTERN = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)
QWEN_CHAT_TEMPLATE = """{%- if tools %}
    {{- '<|im_start|>system\\n' }}
    {%- if messages[0]['role'] == 'system' %}
        {{- messages[0]['content'] }}
    {%- else %}
        {{- 'You are Qwen, created by Alibaba Cloud. You are a helpful assistant.' }}
    {%- endif %}
    {{- "\\n\\n# Tools\\n\\nYou may call one or more functions to assist with the user query.\\n\\nYou are provided \
with function signatures within <tools></tools> XML tags:\\n<tools>" }}
    {%- for tool in tools %}
        {{- "\\n" }}
        {{- tool | tojson }}
    {%- endfor %}
    {{- "\\n</tools>\\n\\nFor each function call, return a json object with function name and arguments within \
<tool_call></tool_call> XML tags:\\n<tool_call>\\n{\\"name\\": <function-name>, \\"arguments\\": \
<args-json-object>}\\n</tool_call><|im_end|>\\n" }}
{%- else %}
    {%- if messages[0]['role'] == 'system' %}
        {{- '<|im_start|>system\\n' + messages[0]['content'] + '<|im_end|>\\n' }}
    {%- else %}
        {{- '<|im_start|>system\\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\\n' }}
    {%- endif %}
{%- endif %}
{%- for message in messages %}
    {%- if (message.role == "user") or (message.role == "system" and not loop.first) or (message.role == "assistant" \
and not message.tool_calls) %}
        {{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>' + '\\n' }}
    {%- elif message.role == "assistant" %}
        {{- '<|im_start|>' + message.role }}
        {%- if message.content %}
            {{- '\\n' + message.content }}
        {%- endif %}
        {%- for tool_call in message.tool_calls %}
            {%- if tool_call.function is defined %}
                {%- set tool_call = tool_call.function %}
            {%- endif %}
            {{- '\\n<tool_call>\\n{"name": "' }}
            {{- tool_call.name }}
            {{- '", "arguments": ' }}
            {{- tool_call.arguments | tojson }}
            {{- '}\\n</tool_call>' }}
        {%- endfor %}
        {{- '<|im_end|>\\n' }}
    {%- elif message.role == "tool" %}
        {%- if (loop.index0 == 0) or (messages[loop.index0 - 1].role != "tool") %}
            {{- '<|im_start|>user' }}
        {%- endif %}
        {{- '\\n<tool_response>\\n' }}
        {{- message.content }}
        {{- '\\n</tool_response>' }}
        {%- if loop.last or (messages[loop.index0 + 1].role != "tool") %}
            {{- '<|im_end|>\\n' }}
        {%- endif %}
    {%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}
    {{- '<|im_start|>assistant\\n' }}
{%- endif %}
"""


def build_qwen25(folder: Path, texts: list[str]) -> None:
    from tokenizers import Regex, normalizers, pre_tokenizers, processors

    pre = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(QWEN_PATTERN), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=False, use_regex=False),
        ]
    )
    tok = _bpe(texts, 744, pre, normalizer=normalizers.NFC())
    tok.post_processor = processors.ByteLevel(add_prefix_space=False, trim_offsets=False, use_regex=False)
    _add_tokens(tok, QWEN_ADDED)
    tok.save(str(folder / "tokenizer.json"))
    tok.model.save(str(folder))
    n_tokens = tok.get_vocab_size(with_added_tokens=True)
    rows = -(-(n_tokens + 200) // 128) * 128  # spare rows past the last token, padded to a multiple of 128
    _write_json(
        folder / "tokenizer_config.json",
        {
            "add_bos_token": False,
            "add_prefix_space": False,
            "added_tokens_decoder": _added_tokens_decoder(tok, QWEN_ADDED),
            "additional_special_tokens": [t for t, special in QWEN_ADDED[1:] if special],
            "bos_token": None,
            "chat_template": QWEN_CHAT_TEMPLATE,
            "clean_up_tokenization_spaces": False,
            "eos_token": "<|im_end|>",
            "errors": "replace",
            "model_max_length": 131072,
            "pad_token": "<|endoftext|>",
            "split_special_tokens": False,
            "tokenizer_class": "Qwen2Tokenizer",
            "unk_token": None,
        },
    )
    special_map = {"additional_special_tokens": [t for t, special in QWEN_ADDED[1:] if special]}
    special_map.update(eos_token=_token_map("<|im_end|>"), pad_token=_token_map("<|endoftext|>"))
    _write_json(folder / "special_tokens_map.json", special_map)
    eot, im_end = tok.token_to_id("<|endoftext|>"), tok.token_to_id("<|im_end|>")
    config = {
        "architectures": ["Qwen2ForCausalLM"],
        "attention_dropout": 0.0,
        "bos_token_id": eot,
        "eos_token_id": im_end,
        "hidden_act": "silu",
        "hidden_size": 64,
        "initializer_range": 0.02,
        "intermediate_size": 160,
        "max_position_embeddings": 32768,
        "max_window_layers": 2,
        "model_type": "qwen2",
        "num_attention_heads": 4,
        "num_hidden_layers": 2,
        "num_key_value_heads": 2,
        "rms_norm_eps": 1e-06,
        "rope_theta": 1000000.0,
        "sliding_window": 32768,
        "tie_word_embeddings": True,
        "torch_dtype": "float32",  # bfloat16 on the Hub
        "transformers_version": "4.43.1",
        "use_cache": True,
        "use_sliding_window": False,
        "vocab_size": rows,
    }
    generation = {
        "bos_token_id": eot,
        "pad_token_id": eot,
        "do_sample": True,
        "eos_token_id": [im_end, eot],
        "repetition_penalty": 1.1,
        "temperature": 0.7,
        "top_p": 0.8,
        "top_k": 20,
        "transformers_version": "4.37.0",
    }
    _save_model(folder, config, generation)


# meta-llama/Llama-3.2-1B-Instruct. Reproduced: LlamaForCausalLM with tied embeddings, GQA and llama3 rope scaling
# (factor 32, original 8192, max_position_embeddings 131072, rope_theta 500000); the tiktoken-style split regex
# (digits in groups of 1-3) and ByteLevel without regex; the 256 special tokens right after the BPE vocab in the real
# order (<|begin_of_text|>, <|end_of_text|>, two reserved, <|finetune_right_pad_id|>, reserved, <|start_header_id|>,
# <|end_header_id|>, <|eom_id|>, <|eot_id|>, <|python_tag|>, <|reserved_special_token_3..247|>), all in the vocab, so
# vocab_size == embedding rows == len(tokenizer); a post-processor that prepends <|begin_of_text|> to every encoding
# (while the chat template also writes bos_token: a second BOS if the rendered chat is tokenized with special
# tokens); bos <|begin_of_text|>, eos <|eot_id|> in the tokenizer; NO pad token; tokenizer_class
# PreTrainedTokenizerFast; model_max_length 131072; config and generation_config eos_token_id
# [<|end_of_text|>, <|eom_id|>, <|eot_id|>] (128001, 128008, 128009 on the Hub), bos 128000; generation do_sample,
# temperature 0.6, top_p 0.9; the chat template verbatim, with its system turn "Cutting Knowledge Date: December
# 2023\nToday Date: ..." rendered even without a system message. Read from: the template in several repos
# (find_string "{#- System message #}\n{{- \"<|start_header_id|>": LLAMA32_CHAT_TEMPLATE constants), config.json
# (kevinstephano/thunder_model_blocks hf_llama/llama_config.py: 2048/16/32/8, rope_scaling, vocab 128256, tie true),
# eos list and generation values (vllm tests/test_config "Llama-3.2-1B-Instruct": eos_token_id == [128001, 128008,
# 128009], tokenizer eos 128009; a generation_config fixture with temperature 0.6, top_p 0.9), special-token ids
# (tokenizer_config.json of Llama 3.1 derivatives on Hub mirrors); the rest of the special_tokens_map from memory.
# Tiny: hidden 64, 4 heads, 2 kv heads, 2 layers.
LLAMA_PATTERN = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+"
    r"|\s+(?!\S)|\s+"
)
LLAMA_SPECIALS = [
    *"<|begin_of_text|> <|end_of_text|> <|reserved_special_token_0|> <|reserved_special_token_1|>".split(),
    *"<|finetune_right_pad_id|> <|reserved_special_token_2|> <|start_header_id|> <|end_header_id|>".split(),
    *"<|eom_id|> <|eot_id|> <|python_tag|>".split(),
    *(f"<|reserved_special_token_{i}|>" for i in range(3, 248)),
]
LLAMA_CHAT_TEMPLATE = """{{- bos_token }}
{%- if custom_tools is defined %}
    {%- set tools = custom_tools %}
{%- endif %}
{%- if not tools_in_user_message is defined %}
    {%- set tools_in_user_message = true %}
{%- endif %}
{%- if not date_string is defined %}
    {%- if strftime_now is defined %}
        {%- set date_string = strftime_now("%d %b %Y") %}
    {%- else %}
        {%- set date_string = "26 Jul 2024" %}
    {%- endif %}
{%- endif %}
{%- if not tools is defined %}
    {%- set tools = none %}
{%- endif %}

{#- This block extracts the system message, so we can slot it into the right place. #}
{%- if messages[0]['role'] == 'system' %}
    {%- set system_message = messages[0]['content']|trim %}
    {%- set messages = messages[1:] %}
{%- else %}
    {%- set system_message = "" %}
{%- endif %}

{#- System message #}
{{- "<|start_header_id|>system<|end_header_id|>\\n\\n" }}
{%- if tools is not none %}
    {{- "Environment: ipython\\n" }}
{%- endif %}
{{- "Cutting Knowledge Date: December 2023\\n" }}
{{- "Today Date: " + date_string + "\\n\\n" }}
{%- if tools is not none and not tools_in_user_message %}
    {{- "You have access to the following functions. To call a function, please respond with JSON for a function \
call." }}
    {{- 'Respond in the format {"name": function name, "parameters": dictionary of argument name and its value}.' }}
    {{- "Do not use variables.\\n\\n" }}
    {%- for t in tools %}
        {{- t | tojson(indent=4) }}
        {{- "\\n\\n" }}
    {%- endfor %}
{%- endif %}
{{- system_message }}
{{- "<|eot_id|>" }}

{#- Custom tools are passed in a user message with some extra guidance #}
{%- if tools_in_user_message and not tools is none %}
    {#- Extract the first user message so we can plug it in here #}
    {%- if messages | length != 0 %}
        {%- set first_user_message = messages[0]['content']|trim %}
        {%- set messages = messages[1:] %}
    {%- else %}
        {{- raise_exception("Cannot put tools in the first user message when there's no first user message!") }}
{%- endif %}
    {{- '<|start_header_id|>user<|end_header_id|>\\n\\n' -}}
    {{- "Given the following functions, please respond with a JSON for a function call " }}
    {{- "with its proper arguments that best answers the given prompt.\\n\\n" }}
    {{- 'Respond in the format {"name": function name, "parameters": dictionary of argument name and its value}.' }}
    {{- "Do not use variables.\\n\\n" }}
    {%- for t in tools %}
        {{- t | tojson(indent=4) }}
        {{- "\\n\\n" }}
    {%- endfor %}
    {{- first_user_message + "<|eot_id|>"}}
{%- endif %}

{%- for message in messages %}
    {%- if not (message.role == 'ipython' or message.role == 'tool' or 'tool_calls' in message) %}
        {{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n'+ message['content'] | trim + \
'<|eot_id|>' }}
    {%- elif 'tool_calls' in message %}
        {%- if not message.tool_calls|length == 1 %}
            {{- raise_exception("This model only supports single tool-calls at once!") }}
        {%- endif %}
        {%- set tool_call = message.tool_calls[0].function %}
        {{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' -}}
        {{- '{"name": "' + tool_call.name + '", ' }}
        {{- '"parameters": ' }}
        {{- tool_call.arguments | tojson }}
        {{- "}" }}
        {{- "<|eot_id|>" }}
    {%- elif message.role == "tool" or message.role == "ipython" %}
        {{- "<|start_header_id|>ipython<|end_header_id|>\\n\\n" }}
        {%- if message.content is mapping or message.content is iterable %}
            {{- message.content | tojson }}
        {%- else %}
            {{- message.content }}
        {%- endif %}
        {{- "<|eot_id|>" }}
    {%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}
    {{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}
{%- endif %}
"""


def build_llama32(folder: Path, texts: list[str]) -> None:
    from tokenizers import Regex, pre_tokenizers, processors

    pre = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(LLAMA_PATTERN), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=False),
        ]
    )
    tok = _bpe(texts, 744, pre)
    _add_tokens(tok, [(t, True) for t in LLAMA_SPECIALS])
    bos = tok.token_to_id("<|begin_of_text|>")
    tok.post_processor = processors.Sequence(
        [
            processors.ByteLevel(add_prefix_space=True, trim_offsets=False, use_regex=True),
            processors.TemplateProcessing(
                single="<|begin_of_text|> $A",
                pair="<|begin_of_text|> $A <|begin_of_text|>:1 $B:1",
                special_tokens=[("<|begin_of_text|>", bos)],
            ),
        ]
    )
    tok.save(str(folder / "tokenizer.json"))
    n_tokens = tok.get_vocab_size(with_added_tokens=True)
    _write_json(
        folder / "tokenizer_config.json",
        {
            "added_tokens_decoder": _added_tokens_decoder(tok, [(t, True) for t in LLAMA_SPECIALS]),
            "bos_token": "<|begin_of_text|>",
            "chat_template": LLAMA_CHAT_TEMPLATE,
            "clean_up_tokenization_spaces": True,
            "eos_token": "<|eot_id|>",
            "model_input_names": ["input_ids", "attention_mask"],
            "model_max_length": 131072,
            "tokenizer_class": "PreTrainedTokenizerFast",
        },
    )
    _write_json(
        folder / "special_tokens_map.json",
        {"bos_token": _token_map("<|begin_of_text|>"), "eos_token": _token_map("<|eot_id|>")},
    )
    eos = [tok.token_to_id(t) for t in ("<|end_of_text|>", "<|eom_id|>", "<|eot_id|>")]
    config = {
        "architectures": ["LlamaForCausalLM"],
        "attention_bias": False,
        "attention_dropout": 0.0,
        "bos_token_id": bos,
        "eos_token_id": eos,
        "head_dim": 16,
        "hidden_act": "silu",
        "hidden_size": 64,
        "initializer_range": 0.02,
        "intermediate_size": 128,
        "max_position_embeddings": 131072,
        "mlp_bias": False,
        "model_type": "llama",
        "num_attention_heads": 4,
        "num_hidden_layers": 2,
        "num_key_value_heads": 2,
        "pretraining_tp": 1,
        "rms_norm_eps": 1e-05,
        "rope_scaling": {
            "factor": 32.0,
            "high_freq_factor": 4.0,
            "low_freq_factor": 1.0,
            "original_max_position_embeddings": 8192,
            "rope_type": "llama3",
        },
        "rope_theta": 500000.0,
        "tie_word_embeddings": True,
        "torch_dtype": "float32",  # bfloat16 on the Hub
        "transformers_version": "4.45.0.dev0",
        "use_cache": True,
        "vocab_size": n_tokens,
    }
    generation = {
        "bos_token_id": bos,
        "do_sample": True,
        "eos_token_id": eos,
        "temperature": 0.6,
        "top_p": 0.9,
        "transformers_version": "4.45.0.dev0",
    }
    _save_model(folder, config, generation)


MODEL_CARDS = {  # the real cards' YAML front matter (the body says what this is)
    GPT2: {"language": "en", "tags": ["exbert"], "license": "mit"},
    SMOLLM2: {
        "library_name": "transformers",
        "license": "apache-2.0",
        "language": ["en"],
        "pipeline_tag": "text-generation",
        "tags": ["safetensors", "onnx", "transformers.js"],
        "base_model": ["HuggingFaceTB/SmolLM2-135M"],
    },
    QWEN25: {
        "license": "apache-2.0",
        "language": ["en"],
        "pipeline_tag": "text-generation",
        "base_model": "Qwen/Qwen2.5-0.5B",
        "tags": ["chat"],
        "library_name": "transformers",
    },
    LLAMA32: {
        "language": ["en", "de", "fr", "it", "pt", "hi", "es", "th"],
        "library_name": "transformers",
        "license": "llama3.2",
        "pipeline_tag": "text-generation",
        "tags": ["facebook", "meta", "pytorch", "llama", "llama-3"],
    },
}
MODEL_BUILDERS = {GPT2: build_gpt2, SMOLLM2: build_smollm2, QWEN25: build_qwen25, LLAMA32: build_llama32}


def _write_card(folder: Path, meta: dict, repo_id: str, what: str) -> None:
    import yaml

    body = (
        f"# {repo_id} (offline stand-in)\n\nBuilt by hfrecipes' tests/standins.py for offline tests: {what}. "
        "Not the real repo's content; its file layout, configs and special tokens follow the real repo.\n"
    )
    text = "---\n" + yaml.safe_dump(meta, sort_keys=False, allow_unicode=True) + "---\n\n" + body
    (folder / "README.md").write_text(text, encoding="utf-8")


# --- datasets


def _shared(*parts: str) -> Path | None:
    path = SHARED_DATA.joinpath(*parts)
    return path if path.is_file() else None


def _tsv(path: Path) -> list[list[str]]:
    import csv

    with open(path, encoding="utf-8-sig", newline="") as f:  # GLUE TSVs: no quoting at all; MRPC has a BOM
        return [row for row in csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE) if row]


def _stable(text: str, modulo: int) -> int:
    return int(hashlib.md5(text.encode()).hexdigest(), 16) % modulo


def _sentences(texts: list[str], n: int, min_chars: int = 30, max_chars: int = 200) -> list[str]:
    """Sentence-like lines from the embedded corpus, in a fixed order (the fallback for missing shared data)."""
    out = []
    for text in texts:
        for part in text.replace("\n\n", "\n").split("\n"):
            part = " ".join(part.split())
            if min_chars <= len(part) <= max_chars and part[0].isalpha():
                out.append(part)
                if len(out) == n:
                    return out
    return out


def _write_split(folder: Path, relpath: str, data: dict, features) -> dict:
    """One split as one parquet file (with the ``huggingface`` schema metadata push_to_hub writes)."""
    from datasets import Dataset

    ds = Dataset.from_dict(data, features=features)
    path = folder / relpath
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.to_parquet(str(path))
    return {"num_bytes": ds.data.nbytes, "num_examples": len(ds), "download_size": path.stat().st_size}


def _dataset_card(folder: Path, meta: dict, configs: list[dict], infos: list[dict] | None, repo_id: str, what: str):
    meta = {**meta, "configs": configs}
    if infos:
        meta["dataset_info"] = infos if len(infos) > 1 else infos[0]
    _write_card(folder, meta, repo_id, what)


def _info(config_name: str, features, splits: dict[str, dict]) -> dict:
    info = {"config_name": config_name, "features": features._to_yaml_list(), "splits": []}
    for name, stats in splits.items():
        info["splits"].append({"name": name, "num_bytes": stats["num_bytes"], "num_examples": stats["num_examples"]})
    info["download_size"] = sum(s["download_size"] for s in splits.values())
    info["dataset_size"] = sum(s["num_bytes"] for s in splits.values())
    return info


# nyu-mll/glue: configs cola, mrpc, rte, sst2, stsb (the real repo also has ax, mnli*, qnli, qqp, wnli: missing here).
# Reproduced: one folder per config with {split}-00000-of-00001.parquet for train/validation/test; README YAML with
# `configs:` (data_files per split, path "sst2/train-*") and `dataset_info:` per config; features as on the Hub:
# the Hub's text column names, `label` a ClassLabel with the Hub's names (sst2 negative/positive, cola
# unacceptable/acceptable, mrpc not_equivalent/equivalent, rte entailment/not_entailment) or float32 (stsb), `idx`
# int32; test labels -1 (-1.0 for stsb); SST-2 sentences keep their trailing space. Read from: the real dataset
# viewer/README layout from memory; label names cross-checked with src/hfrecipes/glue.py (the Hub layout it targets).
# Content: the first rows of /work/shared/data/glue (300 train, 100 validation, 100 test), else corpus sentences.
GLUE_CONFIGS = {
    # name: (TSV folder, text columns, label names or None, TSV text columns, TSV label column, labels spelled)
    "cola": ("CoLA", ("sentence",), ("unacceptable", "acceptable"), (3,), 1, False),
    "mrpc": (
        "MRPC",
        ("sentence1", "sentence2"),
        ("not_equivalent", "equivalent"),
        ("#1 String", "#2 String"),
        "Quality",
        False,
    ),
    "rte": (
        "RTE",
        ("sentence1", "sentence2"),
        ("entailment", "not_entailment"),
        ("sentence1", "sentence2"),
        "label",
        True,
    ),
    "sst2": ("SST-2", ("sentence",), ("negative", "positive"), ("sentence",), "label", False),
    "stsb": ("STS-B", ("sentence1", "sentence2"), None, ("sentence1", "sentence2"), "score", False),
}
GLUE_ROWS = {"train": 300, "validation": 100, "test": 100}


def _glue_rows(name: str, split: str, texts: list[str]) -> list[tuple[list[str], object]]:
    """(texts, label) rows of one GLUE split, from the shared TSVs or, without them, from corpus sentences."""
    dirname, columns, names, tsv_text, tsv_label, as_name = GLUE_CONFIGS[name]
    n = GLUE_ROWS[split]
    path = _shared("glue", dirname, {"train": "train", "validation": "dev", "test": "test"}[split] + ".tsv")
    if path is not None:
        rows = _tsv(path)
        if name == "cola" and split != "test":  # CoLA's labelled files have no header
            header, body = None, rows
        else:
            header, body = rows[0], rows[1:]
        out = []
        for row in body[:n]:
            if name == "cola" and split == "test":
                cells = [row[header.index("sentence")]]
            else:
                cells = [row[c] if isinstance(c, int) else row[header.index(c)] for c in tsv_text]
            if split == "test":
                label = -1.0 if names is None else -1
            else:
                raw = row[tsv_label] if isinstance(tsv_label, int) else row[header.index(tsv_label)]
                label = float(raw) if names is None else names.index(raw) if as_name else int(raw)
            out.append((cells, label))
        return out
    pool = _sentences(texts, 3 * sum(GLUE_ROWS.values()))
    offset = {"train": 0, "validation": GLUE_ROWS["train"], "test": GLUE_ROWS["train"] + GLUE_ROWS["validation"]}
    out = []
    for i in range(n):
        first = pool[(offset[split] + i) % len(pool)]
        cells = [first] if len(columns) == 1 else [first, pool[(offset[split] + i + 7) % len(pool)]]
        if split == "test":
            label = -1.0 if names is None else -1
        else:
            label = _stable(first, 51) / 10 if names is None else _stable(first, len(names))
        out.append((cells, label))
    return out


def build_glue(folder: Path, texts: list[str]) -> None:
    from datasets import ClassLabel, Features, Value

    configs, infos = [], []
    for name, (_, columns, names, *_rest) in sorted(GLUE_CONFIGS.items()):
        features = Features(
            {
                **{c: Value("string") for c in columns},
                "label": Value("float32") if names is None else ClassLabel(names=list(names)),
                "idx": Value("int32"),
            }
        )
        splits = {}
        for split in GLUE_ROWS:
            rows = _glue_rows(name, split, texts)
            data = {c: [r[0][i] for r in rows] for i, c in enumerate(columns)}
            data["label"] = [r[1] for r in rows]
            data["idx"] = list(range(len(rows)))
            splits[split] = _write_split(folder, f"{name}/{split}-00000-of-00001.parquet", data, features)
        configs.append({"config_name": name, "data_files": [{"split": s, "path": f"{name}/{s}-*"} for s in GLUE_ROWS]})
        infos.append(_info(name, features, splits))
    meta = {
        "annotations_creators": ["other"],
        "language_creators": ["other"],
        "language": ["en"],
        "license": ["other"],
        "multilinguality": ["monolingual"],
        "size_categories": ["10K<n<100K"],
        "source_datasets": ["original"],
        "task_categories": ["text-classification"],
        "task_ids": ["acceptability-classification", "natural-language-inference", "semantic-similarity-scoring"],
        "paperswithcode_id": "glue",
        "pretty_name": "GLUE (General Language Understanding Evaluation benchmark)",
    }
    source = "the first rows of the GLUE TSVs" if _shared("glue", "SST-2", "train.tsv") else "embedded-corpus text"
    _dataset_card(folder, meta, configs, infos, GLUE, f"configs {', '.join(sorted(GLUE_CONFIGS))} with {source}")


# HuggingFaceFW/fineweb-edu. Reproduced: configs `default` (data/*/*), `sample-10BT` (sample/10BT/*, files named
# 000_00000.parquet, 001_00000.parquet) and one dump, `CC-MAIN-2024-10` (data/CC-MAIN-2024-10/train-*); a train
# split only; columns text, id, dump, url, date, file_path, language, language_score (float64), token_count (int64),
# score (float64), int_score (int64); no `dataset_info:` in the README (features come from the parquet schema).
# Read from: the dataset card's configs and the column list in the brief/dataset viewer, from memory. Content:
# paragraphs of WikiText-2 (raw test) and tinyshakespeare from /work/shared/data, else corpus records.
def _web_paragraphs(texts: list[str], n: int) -> list[str]:
    paragraphs = []
    wiki = _shared("wikitext-2-raw", "wiki.test.raw")
    if wiki is not None:
        for line in wiki.read_text(encoding="utf-8").splitlines():
            line = line.strip()
            if len(line) > 300 and not line.startswith("="):
                paragraphs.append(line)
    shakespeare = _shared("tinyshakespeare", "input.txt")
    if shakespeare is not None:
        paragraphs += [p.strip() for p in shakespeare.read_text(encoding="utf-8").split("\n\n") if len(p) > 300]
    if len(paragraphs) < n:
        paragraphs += [t for t in texts if len(t) > 300]
    return [paragraphs[(i * 7) % len(paragraphs)] for i in range(n)]  # interleaves the sources


def build_fineweb_edu(folder: Path, texts: list[str]) -> None:
    from datasets import Features, Value

    features = Features(
        {
            "text": Value("string"),
            "id": Value("string"),
            "dump": Value("string"),
            "url": Value("string"),
            "date": Value("string"),
            "file_path": Value("string"),
            "language": Value("string"),
            "language_score": Value("float64"),
            "token_count": Value("int64"),
            "score": Value("float64"),
            "int_score": Value("int64"),
        }
    )
    files = {
        "sample/10BT/000_00000.parquet": ("CC-MAIN-2013-20", 0),
        "sample/10BT/001_00000.parquet": ("CC-MAIN-2019-04", 150),
        "data/CC-MAIN-2024-10/train-00000-of-00001.parquet": ("CC-MAIN-2024-10", 300),
    }
    paragraphs = _web_paragraphs(texts, 450)
    for relpath, (dump, start) in files.items():
        rows = paragraphs[start : start + 150]
        uid = [hashlib.sha1(f"{dump}{i}".encode()).hexdigest() for i in range(len(rows))]
        score = [2.5 + _stable(t, 250) / 100 for t in rows]
        data = {
            "text": rows,
            "id": [f"<urn:uuid:{u[:8]}-{u[8:12]}-{u[12:16]}-{u[16:20]}-{u[20:32]}>" for u in uid],
            "dump": [dump] * len(rows),
            "url": [f"http://example.org/{dump.lower()}/{u[:10]}" for u in uid],
            "date": [f"{dump[8:12]}-02-2{i % 10}T05:{i % 60:02d}:36Z" for i in range(len(rows))],
            "file_path": [
                f"s3://commoncrawl/crawl-data/{dump}/segments/{u[:13]}/warc/{dump}-{u[13:19]}.warc.gz" for u in uid
            ],
            "language": ["en"] * len(rows),
            "language_score": [0.9 + _stable(u, 100) / 1000 for u in uid],
            "token_count": [len(t.split()) * 4 // 3 for t in rows],
            "score": score,
            "int_score": [int(round(s)) for s in score],
        }
        _write_split(folder, relpath, data, features)
    configs = [
        {"config_name": "default", "data_files": [{"split": "train", "path": "data/*/*"}]},
        {"config_name": "sample-10BT", "data_files": [{"split": "train", "path": "sample/10BT/*"}]},
        {"config_name": "CC-MAIN-2024-10", "data_files": [{"split": "train", "path": "data/CC-MAIN-2024-10/*"}]},
    ]
    meta = {
        "license": "odc-by",
        "task_categories": ["text-generation"],
        "language": ["en"],
        "pretty_name": "FineWeb-Edu",
        "size_categories": ["n>1T"],
    }
    _dataset_card(folder, meta, configs, None, FINEWEB_EDU, "450 web-like paragraphs in three parquet files")


# Alpaca records (instruction, input, output): the shared 1k alpaca_en_demo sample, else corpus-derived questions.
def _alpaca_records(texts: list[str], n: int) -> list[dict]:
    path = _shared("alpaca_en_demo", "alpaca_en_demo.json")
    if path is not None:
        records = json.loads(path.read_text(encoding="utf-8"))[:n]
        return [{k: r.get(k, "") for k in ("instruction", "input", "output")} for r in records]
    from hfrecipes.corpus import load_python_docs

    train = load_python_docs()["train"]
    out = []
    for row in train.select(range(min(len(train), 4 * n))):
        if len(row["text"]) > 120:
            instruction = f"Explain what `{row['name']}` does in Python."
            out.append({"instruction": instruction, "input": "", "output": row["text"][:800]})
        if len(out) == n:
            break
    return out


# tatsu-lab/alpaca. Reproduced: data/train-00000-of-00001-a09b74b3ef9c3b56.parquet, a train split only; columns
# instruction, input, output, text (all strings), where `text` is the Alpaca prompt ("Below is an instruction that
# describes a task[, paired with an input that provides further context]. Write a response that appropriately
# completes the request.\n\n### Instruction:\n...\n\n[### Input:\n...\n\n]### Response:\n..."). Read from: the
# Stanford Alpaca prompt templates and the dataset card, from memory. Content: the first 300 alpaca_en_demo records.
ALPACA_PROMPT = (
    "Below is an instruction that describes a task, paired with an input that provides further context. "
    "Write a response that appropriately completes the request.\n\n"
    "### Instruction:\n{instruction}\n\n### Input:\n{input}\n\n### Response:\n{output}"
)
ALPACA_PROMPT_NO_INPUT = (
    "Below is an instruction that describes a task. Write a response that appropriately completes the request.\n\n"
    "### Instruction:\n{instruction}\n\n### Response:\n{output}"
)


def build_alpaca(folder: Path, texts: list[str]) -> None:
    from datasets import Features, Value

    records = _alpaca_records(texts, 300)
    features = Features({c: Value("string") for c in ("instruction", "input", "output", "text")})
    data = {c: [r[c] for r in records] for c in ("instruction", "input", "output")}
    data["text"] = [(ALPACA_PROMPT if r["input"] else ALPACA_PROMPT_NO_INPUT).format(**r) for r in records]
    stats = _write_split(folder, "data/train-00000-of-00001-a09b74b3ef9c3b56.parquet", data, features)
    configs = [{"config_name": "default", "data_files": [{"split": "train", "path": "data/train-*"}]}]
    meta = {
        "license": "cc-by-nc-4.0",
        "language": ["en"],
        "tags": ["instruction-finetuning"],
        "pretty_name": "Alpaca",
        "task_categories": ["text-generation"],
    }
    infos = [_info("default", features, {"train": stats})]
    _dataset_card(folder, meta, configs, infos, ALPACA, f"{len(records)} Alpaca-format records")


# HuggingFaceH4/ultrachat_200k. Reproduced: splits train_sft, test_sft, train_gen, test_gen, each in
# data/{split}-00000-of-00001-{hash}.parquet (the hash-suffixed names of older push_to_hub); columns prompt,
# prompt_id (sha256 of the prompt), messages (list of {content, role}, starting with the user's prompt, alternating
# user/assistant, several turns); README `dataset_info:` with `messages` as a list of structs. Read from: the dataset
# card, from memory. Content: Alpaca records turned into chats; every second chat gets a second exchange that chains
# the next record's instruction.
ULTRACHAT_ROWS = {"train_sft": 120, "test_sft": 40, "train_gen": 60, "test_gen": 30}


def build_ultrachat(folder: Path, texts: list[str]) -> None:
    from datasets import Features, List, Value

    records = _alpaca_records(texts, 2 * sum(ULTRACHAT_ROWS.values()))
    features = Features(
        {
            "prompt": Value("string"),
            "prompt_id": Value("string"),
            "messages": List({"content": Value("string"), "role": Value("string")}),
        }
    )
    splits, start = {}, 0
    for split, n in ULTRACHAT_ROWS.items():
        rows = {"prompt": [], "prompt_id": [], "messages": []}
        for i in range(start, start + n):
            r = records[i % len(records)]
            prompt = r["instruction"] + (f"\n\n{r['input']}" if r["input"] else "")
            messages = [{"content": prompt, "role": "user"}, {"content": r["output"], "role": "assistant"}]
            if i % 2:
                follow = records[(i + 1) % len(records)]
                messages += [
                    {"content": follow["instruction"], "role": "user"},
                    {"content": follow["output"], "role": "assistant"},
                ]
            rows["prompt"].append(prompt)
            rows["prompt_id"].append(hashlib.sha256(prompt.encode()).hexdigest())
            rows["messages"].append(messages)
        start += n
        suffix = hashlib.sha1(f"{ULTRACHAT}/{split}".encode()).hexdigest()[:16]
        splits[split] = _write_split(folder, f"data/{split}-00000-of-00001-{suffix}.parquet", rows, features)
    configs = [{"config_name": "default", "data_files": [{"split": s, "path": f"data/{s}-*"} for s in splits]}]
    meta = {
        "language": ["en"],
        "license": "mit",
        "size_categories": ["100K<n<1M"],
        "task_categories": ["text-generation"],
        "pretty_name": "UltraChat 200k",
    }
    infos = [_info("default", features, splits)]
    _dataset_card(folder, meta, configs, infos, ULTRACHAT, "Alpaca records as chats, in the four splits")


# --- datasets of lm-evaluation-harness tasks (recipes/eval.py): the ids and configs its task YAMLs name
# (lm_eval/tasks/arc/arc_easy.yaml, hellaswag/hellaswag.yaml, lambada/lambada_openai.yaml in lm-eval 0.4.13), so the
# harness's own task definitions run unmodified. The contents are stand-ins, not the benchmarks: scores on them mean
# nothing, the loading, prompting and scoring path is the real one.


def _detokenized(line: str) -> str:
    """WikiText's tokenized spacing (`word , word @-@ word 's`) back to plain text."""
    for old, new in ((" @-@ ", "-"), (" @,@ ", ","), (" @.@ ", "."), (" 's", "'s"), (" n't", "n't"), ("( ", "(")):
        line = line.replace(old, new)
    for mark in (" ,", " .", " ;", " :", " )", " !", " ?"):
        line = line.replace(mark, mark[1:])
    return " ".join(line.split())


def _wiki_articles(texts: list[str]) -> list[tuple[str, list[str]]]:
    """(title, sentences) of each WikiText-2 test article (``= Title =`` headings), else of corpus records."""
    import re

    wiki = _shared("wikitext-2-raw", "wiki.test.raw")
    articles: list[tuple[str, list[str]]] = []
    if wiki is not None:
        for line in wiki.read_text(encoding="utf-8").splitlines():
            heading = re.fullmatch(r"\s*= ([^=].*?) =\s*", line)
            if heading:
                articles.append((_detokenized(heading[1]), []))
            elif articles and line.strip() and not line.strip().startswith("="):
                articles[-1][1].extend(re.split(r"(?<=[.!?])\s+", _detokenized(line)))
    else:
        for text in texts:
            title, *lines = text.split("\n")
            body = " ".join(line for line in lines if not re.fullmatch(r"[*=~^-]{3,}", line.strip()))
            articles.append((title.split("(")[0].strip(), re.split(r"(?<=[.!?])\s+", " ".join(body.split()))))
    return [(title, [s for s in sentences if 6 <= len(s.split()) <= 40]) for title, sentences in articles]


# allenai/ai2_arc. Reproduced: configs ARC-Challenge and ARC-Easy, each with {config}/{split}-00000-of-00001.parquet
# for train/test/validation; README YAML `dataset_info:` per config and `configs:` with data_files per split (path
# "ARC-Easy/test-*"); columns id, question (strings), choices (struct of `text` and `label` string lists), answerKey;
# labels A-D for most items, "1"-"4" for some and 3 or 5 choices for a few, as in the real data (the task maps the
# answer through `choices.label.index(answerKey)`). Read from: the dataset card's YAML (pages:
# huggingface.co/datasets/allenai/ai2_arc README.md: features, splits, `configs:` paths) and its example rows.
# Content: questions about names of the embedded corpus ("What does the function `json.dumps` do?"), answered by the
# first sentence of their docs.
ARC = "allenai/ai2_arc"
ARC_ROWS = {"train": 30, "validation": 20, "test": 60}


def _first_sentence(text: str) -> str | None:
    body = " ".join(text.partition("\n\n")[2].split())
    sentence = body.split(". ", 1)[0].rstrip(".") + "."
    return sentence if 20 <= len(sentence) <= 160 else None


def build_arc(folder: Path, texts: list[str]) -> None:
    import random

    from datasets import Features, List, Value

    from hfrecipes.corpus import load_python_docs

    records = [r for r in load_python_docs()["train"] if r["kind"] in ("function", "method", "class", "module")]
    pairs = [(r["kind"], r["name"], s) for r in records if (s := _first_sentence(r["text"]))]
    answers = [s for _, _, s in pairs]
    features = Features(
        {
            "id": Value("string"),
            "question": Value("string"),
            "choices": {"text": List(Value("string")), "label": List(Value("string"))},
            "answerKey": Value("string"),
        }
    )
    rng = random.Random(SEED)
    configs, infos, start = [], [], 0
    for config in ("ARC-Challenge", "ARC-Easy"):
        splits = {}
        for split, n in ARC_ROWS.items():
            rows = {"id": [], "question": [], "choices": [], "answerKey": []}
            for i, (kind, name, answer) in enumerate(pairs[start : start + n]):
                size = 3 if i % 15 == 7 else 5 if i % 20 == 11 else 4
                options = [answer, *rng.sample([a for a in answers if a != answer], size - 1)]
                rng.shuffle(options)
                labels = [str(k + 1) for k in range(size)] if i % 10 == 3 else list("ABCDE"[:size])
                rows["id"].append(f"Stand-in_{config}_{split}_{i:04d}")
                rows["question"].append(f"What does the {kind} `{name}` do?")
                rows["choices"].append({"text": options, "label": labels})
                rows["answerKey"].append(labels[options.index(answer)])
            start += n
            splits[split] = _write_split(folder, f"{config}/{split}-00000-of-00001.parquet", rows, features)
        files = [{"split": s, "path": f"{config}/{s}-*"} for s in splits]
        configs.append({"config_name": config, "data_files": files})
        infos.append(_info(config, features, splits))
    meta = {
        "annotations_creators": ["found"],
        "language_creators": ["found"],
        "language": ["en"],
        "license": ["cc-by-sa-4.0"],
        "multilinguality": ["monolingual"],
        "size_categories": ["1K<n<10K"],
        "source_datasets": ["original"],
        "task_categories": ["question-answering"],
        "task_ids": ["open-domain-qa", "multiple-choice-qa"],
        "pretty_name": "Ai2Arc",
    }
    _dataset_card(folder, meta, configs, infos, ARC, "questions about Python names with 3-5 choices, ARC's columns")


# Rowan/hellaswag. Reproduced: the parquet layout of its conversion on the Hub (refs/pr/7 "Convert dataset to Parquet":
# data/{train,validation,test}-00000-of-00001.parquet; its main branch held a loading script, which datasets >= 4 does
# not run), `configs:` default with data/{split}-* paths; columns ind (int32), activity_label, ctx_a, ctx_b, ctx,
# endings (list of 4 strings), source_id, split, split_type, label (a string "0"-"3"; "" in test), with ctx_b starting
# in lower case (the task's process_docs capitalizes it). Read from: a copy's dataset_info (pages: vikhyatk/hellaswag
# README: the features and their dtypes), the Hub's tree of refs/pr/7, lm_eval/tasks/hellaswag/utils.py. Content:
# WikiText-2 test articles (title = activity_label): a sentence, the first words of the next one, and four endings
# (the next sentence's own rest and three others').
HELLASWAG = "Rowan/hellaswag"
HELLASWAG_ROWS = {"train": 30, "validation": 60, "test": 20}


def build_hellaswag(folder: Path, texts: list[str]) -> None:
    import random

    from datasets import Features, List, Value

    contexts = []
    for title, sentences in _wiki_articles(texts):
        for a, b in zip(sentences[::2], sentences[1::2], strict=False):  # sentence pairs, the last one alone dropped
            words = b.split()
            contexts.append((title, a, " ".join(words[:3]), " ".join(words[3:])))
    rng = random.Random(SEED)
    endings = [end for *_, end in contexts]
    features = Features(
        {
            "ind": Value("int32"),
            "activity_label": Value("string"),
            "ctx_a": Value("string"),
            "ctx_b": Value("string"),
            "ctx": Value("string"),
            "endings": List(Value("string")),
            "source_id": Value("string"),
            "split": Value("string"),
            "split_type": Value("string"),
            "label": Value("string"),
        }
    )
    splits, start = {}, 0
    for split, n in HELLASWAG_ROWS.items():
        rows = {name: [] for name in features}
        for i, (title, ctx_a, ctx_b, end) in enumerate(contexts[start : start + n]):
            options = [end, *rng.sample([e for e in endings if e != end], 3)]
            rng.shuffle(options)
            ctx_b = ctx_b[:1].lower() + ctx_b[1:]
            values = {
                "ind": start + i,
                "activity_label": title,
                "ctx_a": ctx_a,
                "ctx_b": ctx_b,
                "ctx": f"{ctx_a} {ctx_b}",
                "endings": options,
                "source_id": f"wikitext~{title.replace(' ', '_')}",
                "split": {"validation": "val"}.get(split, split),
                "split_type": "indomain",
                "label": "" if split == "test" else str(options.index(end)),
            }
            for name, value in values.items():
                rows[name].append(value)
        start += n
        splits[split] = _write_split(folder, f"data/{split}-00000-of-00001.parquet", rows, features)
    configs = [{"config_name": "default", "data_files": [{"split": s, "path": f"data/{s}-*"} for s in splits]}]
    meta = {"language": ["en"], "paperswithcode_id": "hellaswag", "pretty_name": "HellaSwag"}
    _dataset_card(folder, meta, configs, [_info("default", features, splits)], HELLASWAG, "WikiText-2 continuations")


# EleutherAI/lambada_openai. Reproduced: configs default and en (the same English text), a test split only, one `text`
# column whose last word is the target (no final punctuation), in the layout of a parquet conversion
# ({config}/test-00000-of-00001.parquet, `configs:` with data_files); the real repo's main branch holds
# data/lambada_test*.jsonl and a loading script (datasets >= 4 runs neither script nor its configs) and also de, es,
# fr, it (left out). Read from: its README's dataset_info (pages: huggingface.co/datasets/EleutherAI/lambada_openai:
# configs default/de/en/es/fr/it, test split of 5153 rows, one string feature `text`) and the Hub's tree of data/.
# Content: passages of two or three WikiText-2 sentences whose last word also appears earlier in the passage (as in
# LAMBADA, the context can give it away).
LAMBADA = "EleutherAI/lambada_openai"
LAMBADA_ROWS = 80


def build_lambada(folder: Path, texts: list[str]) -> None:
    from datasets import Features, Value

    passages = []
    for _, sentences in _wiki_articles(texts):
        for i in range(0, len(sentences) - 2, 3):
            text = " ".join(sentences[i : i + 3]).rstrip(".!?\"' ")
            *context, last = text.split(" ")
            if last.isalpha() and len(last) > 3 and last.lower() in " ".join(context).lower().split():
                passages.append(text)
    features = Features({"text": Value("string")})
    configs, infos = [], []
    for config in ("default", "en"):
        rows = {"text": passages[:LAMBADA_ROWS]}
        stats = _write_split(folder, f"{config}/test-00000-of-00001.parquet", rows, features)
        configs.append({"config_name": config, "data_files": [{"split": "test", "path": f"{config}/test-*"}]})
        infos.append(_info(config, features, {"test": stats}))
    meta = {
        "pretty_name": "LAMBADA OpenAI",
        "language_creators": ["machine-generated"],
        "license": "mit",
        "multilinguality": ["translation"],
        "task_ids": ["language-modeling"],
        "source_datasets": ["lambada"],
        "size_categories": ["1K<n<10K"],
        "language": ["en"],
    }
    _dataset_card(folder, meta, configs, infos, LAMBADA, f"{min(len(passages), LAMBADA_ROWS)} WikiText-2 passages")


HARNESS_DATASETS = (ARC, HELLASWAG, LAMBADA)
DATASETS = DATASETS + HARNESS_DATASETS
DATASET_BUILDERS = {
    GLUE: build_glue,
    FINEWEB_EDU: build_fineweb_edu,
    ULTRACHAT: build_ultrachat,
    ALPACA: build_alpaca,
    ARC: build_arc,
    HELLASWAG: build_hellaswag,
    LAMBADA: build_lambada,
}


# --- build (cached) and serve


def sources_fingerprint() -> str:
    """What the built files depend on: this file's VERSION, the corpus, the shared data present, library versions."""
    import tokenizers
    import transformers

    from hfrecipes.corpus import corpus_fingerprint

    shared = [p.relative_to(SHARED_DATA).as_posix() for p in sorted(SHARED_DATA.rglob("*")) if p.is_file()]
    parts = [VERSION, corpus_fingerprint(), *shared, tokenizers.__version__, transformers.__version__]
    return hashlib.sha1("\n".join(parts).encode()).hexdigest()[:12]


def build_standins(cache_dir: str | Path) -> Path:
    """Builds every stand-in into ``cache_dir/standins-<fingerprint>/{models,datasets}/<repo id>`` once; returns it."""
    base = Path(cache_dir) / f"standins-{sources_fingerprint()}"
    if (base / "DONE").is_file():
        return base
    import datasets
    import transformers

    datasets.disable_progress_bars()
    transformers.utils.logging.disable_progress_bar()
    tmp = base.with_name(f"{base.name}.tmp{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    texts = _training_text()
    started = time.time()
    try:
        for repo_id, build in MODEL_BUILDERS.items():
            folder = tmp / "models" / repo_id
            folder.mkdir(parents=True)
            build(folder, texts)
            _write_card(folder, MODEL_CARDS[repo_id], repo_id, "random weights, tiny sizes")
        for repo_id, build in DATASET_BUILDERS.items():
            folder = tmp / "datasets" / repo_id
            folder.mkdir(parents=True)
            build(folder, texts)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    (tmp / "DONE").write_text(f"built in {time.time() - started:.1f}s\n")
    try:
        os.replace(tmp, base)
    except OSError:  # another process finished first; use theirs
        shutil.rmtree(tmp, ignore_errors=True)
    return base


def seed_hub(server, cache_dir: str | Path) -> dict[str, dict[str, Path]]:
    """Builds (cached) and adds every stand-in to a HubServer; returns ``{"models"|"datasets": {id: folder}}``.

    Also adds GATED_MODEL and GATED_DATASET, copies of the gpt2 and alpaca stand-ins behind a manual gate (files for
    the owner ``hfrecipes-tests`` and users given ``server.grant(...)`` only).
    """
    base = build_standins(cache_dir)
    seeded = {"models": {}, "datasets": {}}
    for repo_id in MODELS:
        seeded["models"][repo_id] = base / "models" / repo_id
        server.add_folder(repo_id, seeded["models"][repo_id], repo_type="model")
    for repo_id in DATASETS:
        seeded["datasets"][repo_id] = base / "datasets" / repo_id
        server.add_folder(repo_id, seeded["datasets"][repo_id], repo_type="dataset")
    server.add_folder(GATED_MODEL, seeded["models"][GPT2], repo_type="model", gated="manual")
    server.add_folder(GATED_DATASET, seeded["datasets"][ALPACA], repo_type="dataset", gated="manual")
    seeded["models"][GATED_MODEL] = seeded["models"][GPT2]
    seeded["datasets"][GATED_DATASET] = seeded["datasets"][ALPACA]
    return seeded


def main():
    sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "src")]
    from hub_server import HubServer

    parser = argparse.ArgumentParser(description="Serve the stand-ins of Hub repos on 127.0.0.1.")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--cache_dir", default=str(Path.home() / ".cache" / "hfrecipes-standins"))
    parser.add_argument("--token", action="append", default=[], help="TOKEN=USER (write access); repeatable.")
    args = parser.parse_args()
    root = tempfile.mkdtemp(prefix="hub-standins-")
    tokens = {t.split("=", 1)[0]: (t.split("=", 1)[1], "write") for t in args.token}
    server = HubServer(root, tokens)
    seeded = seed_hub(server, args.cache_dir)
    endpoint = server.start(args.port)
    for kind, repos in seeded.items():
        print(f"{kind}: {', '.join(repos)}")
    print(f"serving {endpoint}: export HF_ENDPOINT={endpoint} HF_HUB_DISABLE_XET=1 HF_HUB_OFFLINE=0", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
