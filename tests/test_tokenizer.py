import json

import pytest
from conftest import SHARED_DATA, launch, run_script
from transformers import AutoTokenizer

from hfrecipes.tokenization import CHAT_TOKENS, EOS_TOKEN, PAD_TOKEN, min_vocab_size, token_byte_lengths


def test_special_tokens_and_reload(tiny_tokenizer):
    tok = AutoTokenizer.from_pretrained(tiny_tokenizer)
    assert len(tok) == 512
    assert tok.eos_token == tok.bos_token == EOS_TOKEN
    assert tok.pad_token == PAD_TOKEN and tok.pad_token_id != tok.eos_token_id
    for t in CHAT_TOKENS:
        assert tok.convert_tokens_to_ids(t) != tok.unk_token_id
        assert tok.tokenize(f"a {t} b").count(t) == 1, "chat tokens are never split"
    text = "def f(x):\n    return x ** 2  # café, naïve, 日本\n"
    assert tok.decode(tok(text)["input_ids"]) == text, "byte-level BPE round-trips any text"


def test_chat_template_renders(tiny_tokenizer):
    tok = AutoTokenizer.from_pretrained(tiny_tokenizer)
    msgs = [{"role": "user", "content": "What is zip?"}, {"role": "assistant", "content": "It pairs items."}]
    text = tok.apply_chat_template(msgs, tokenize=False)
    assert text == "<|im_start|>user\nWhat is zip?<|im_end|>\n<|im_start|>assistant\nIt pairs items.<|im_end|>\n"
    prompt = tok.apply_chat_template(msgs[:1], tokenize=False, add_generation_prompt=True)
    assert prompt.endswith("<|im_start|>assistant\n")


def test_results_report_bytes_per_token(tiny_tokenizer):
    results = json.loads((tiny_tokenizer / "results.json").read_text())
    assert 1.5 < results["bytes_per_token"] < 6
    assert (tiny_tokenizer / "run_config.yaml").is_file() and (tiny_tokenizer / "run_info.json").is_file()
    info = json.loads((tiny_tokenizer / "run_info.json").read_text())
    assert info["versions"]["tokenizers"] and info["versions"]["transformers"]


def test_token_byte_lengths_sum_to_utf8_length(tiny_tokenizer):
    tok = AutoTokenizer.from_pretrained(tiny_tokenizer)
    lengths = token_byte_lengths(tok)
    for text in ["plain ascii text", "multi-byte: é ü 日本語 🙂", "tabs\tand\nnewlines"]:
        ids = tok(text, add_special_tokens=False)["input_ids"]
        assert sum(int(lengths[i]) for i in ids) == len(text.encode("utf-8"))
    assert lengths[tok.eos_token_id] == 0


def test_vocab_too_small_is_a_one_line_error(tmp_path):
    proc = run_script("train_tokenizer", "--vocab_size", "100", "--output_dir", str(tmp_path / "t"))
    assert proc.returncode == 2
    assert proc.stderr.strip() == (
        f"error: vocab_size 100 is below the byte alphabet plus special tokens; use >= {min_vocab_size()}"
    )
    assert not (tmp_path / "t").exists()


def test_refuses_to_overwrite_a_finished_run(tiny_tokenizer):
    before = (tiny_tokenizer / "tokenizer.json").read_bytes()
    proc = run_script("train_tokenizer", "--vocab_size", "300", "--output_dir", str(tiny_tokenizer))
    assert proc.returncode == 2 and "already holds a finished run" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert (tiny_tokenizer / "tokenizer.json").read_bytes() == before


@pytest.mark.slow
def test_recipe_via_accelerate_on_shakespeare(tmp_path, shared_data):
    out = tmp_path / "tok"
    launch(
        "train_tokenizer",
        "--config",
        "recipes/configs/train_tokenizer/shakespeare.yaml",
        "--train_file",
        str(SHARED_DATA / "tinyshakespeare" / "input.txt"),
        "--vocab_size",
        "400",
        "--output_dir",
        str(out),
    )
    tok = AutoTokenizer.from_pretrained(out)
    results = json.loads((out / "results.json").read_text())
    assert len(tok) == 400 and 1.5 < results["bytes_per_token"] < 4
    assert tok.tokenize("ROMEO:")  # loads and tokenizes
