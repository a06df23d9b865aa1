"""recipes/pretokenize.py: packed blocks on disk, read back by pretrain.py without tokenizing again."""

import json

import pytest
from conftest import load_recipe
from transformers import AutoTokenizer

from hfrecipes.errors import UserError

BLOCK = 32


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("corpus")
    train = [f"Paragraph {i}: " + "words to pack " * (i % 11 + 1) for i in range(300)]
    (root / "train.txt").write_text("\n\n".join(train) + "\n")
    (root / "val.txt").write_text("\n\n".join(f"held out {i} " * 3 for i in range(40)) + "\n")
    return root


@pytest.fixture(scope="module")
def pretokenized(tiny_tokenizer, corpus, tmp_path_factory):
    out = tmp_path_factory.mktemp("pretokenized") / "blocks"
    load_recipe("pretokenize").main(
        [
            "--train_file",
            str(corpus / "train.txt"),
            "--validation_file",
            str(corpus / "val.txt"),
            "--tokenizer_name",
            str(tiny_tokenizer),
            "--block_size",
            str(BLOCK),
            "--num_proc",
            "2",
            "--preprocessing_batch_size",
            "64",
            "--output_dir",
            str(out),
        ]
    )
    return out


def expected_blocks(tokenizer, path, block_size):
    """In-memory reference: every paragraph + EOS, concatenated, cut into blocks, the final partial one dropped."""
    docs = [d for d in path.read_text().split("\n\n") if d]
    flat = [t for d in docs for t in tokenizer(d, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]]
    return [flat[i : i + block_size] for i in range(0, len(flat) - block_size + 1, block_size)]


def test_pretokenize_writes_the_blocks_of_in_memory_packing(pretokenized, tiny_tokenizer, corpus):
    from datasets import load_from_disk

    saved = load_from_disk(str(pretokenized))
    tok = AutoTokenizer.from_pretrained(tiny_tokenizer)
    for split, name in [("train", "train.txt"), ("validation", "val.txt")]:
        assert [list(r) for r in saved[split]["input_ids"]] == expected_blocks(tok, corpus / name, BLOCK), split
    results = json.loads((pretokenized / "results.json").read_text())
    assert results["train_blocks"] == len(saved["train"]) and results["train_tokens"] == len(saved["train"]) * BLOCK
    assert results["block_size"] == BLOCK and results["num_proc"] == 2 and results["text_mb_per_second"] > 0
    docs = [d for name in ("train.txt", "val.txt") for d in (corpus / name).read_text().split("\n\n")]
    assert results["text_bytes"] == sum(len(d.encode()) for d in docs), "UTF-8 bytes of the documents"
    assert (pretokenized / "run_config.yaml").is_file() and (pretokenized / "run_info.json").is_file()


def test_pretrain_from_pretokenized_folder(pretokenized, tiny_tokenizer, tmp_path, capfd):
    out = tmp_path / "lm"
    # fmt: off
    load_recipe("pretrain").main([
        "--dataset_name", str(pretokenized), "--tokenizer_name", str(tiny_tokenizer), "--block_size", str(BLOCK),
        "--n_layer", "1", "--n_head", "2", "--n_embd", "32", "--per_device_train_batch_size", "8",
        "--max_steps", "5", "--max_train_minutes", "0", "--save_strategy", "no", "--report_to", "none",
        "--output_dir", str(out),
    ])
    # fmt: on
    assert "Tokenizing" not in capfd.readouterr().err, "the blocks are used as they are"
    results = json.loads((out / "results.json").read_text())
    assert results["train_steps"] == 5 and results["train_tokens"] == 5 * 8 * BLOCK
    assert 0 < results["eval_bits_per_byte"] < 10, "validation blocks come from the folder too"
    card = (out / "README.md").read_text()
    assert str(pretokenized) not in card.split("---")[1], "a local folder is not listed as a Hub dataset"


def test_wrong_block_size_or_tokenizer_is_refused(pretokenized, tiny_tokenizer, tmp_path):
    pretrain = load_recipe("pretrain")
    args = ["--dataset_name", str(pretokenized), "--tokenizer_name", str(tiny_tokenizer), "--report_to", "none"]
    with pytest.raises(UserError, match=f"blocks of {BLOCK} tokens but --block_size is 64; pass --block_size {BLOCK}"):
        pretrain.main([*args, "--block_size", "64", "--output_dir", str(tmp_path / "a")])

    from datasets import load_from_disk

    from hfrecipes.data import pack_dataset

    other = AutoTokenizer.from_pretrained(tiny_tokenizer)
    other.add_tokens(["<|extra|>"])
    with pytest.raises(UserError, match="made with another tokenizer"):
        pack_dataset(load_from_disk(str(pretokenized))["train"], other, BLOCK)


def test_text_consumers_refuse_blocks(pretokenized, tmp_path):
    with pytest.raises(UserError, match="pre-tokenized blocks, not 'text'"):
        load_recipe("train_tokenizer").main(["--dataset_name", str(pretokenized), "--output_dir", str(tmp_path / "t")])


def test_pretokenize_refuses_streaming(tmp_path):
    with pytest.raises(UserError, match="drop --streaming"):
        load_recipe("pretokenize").main(["--streaming", "--output_dir", str(tmp_path / "x")])
