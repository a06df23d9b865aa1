"""Budget-matched baselines (hfrecipes.baselines): n-gram bits per byte, TF-IDF + LR, and where cards and reports
show them; also the card's data line for a dataset mixture."""

import csv
import json
import math

import numpy as np
import pytest
from conftest import load_recipe

from hfrecipes.baselines import beside, describe, ngram_baselines, ngram_bits_per_byte, tfidf_baseline
from hfrecipes.classification import ClassificationTask

# --- n-gram bits per byte


def test_ngram_bits_per_byte_of_a_two_token_example_by_hand():
    """Train on the block [0, 1], score it again: one predicted token, 1 (1 byte), after 0. Vocabulary 3 (token 2 is a
    special token, 0 bytes). Unigram, add-one: (1 + 1) / (2 + 3) = 0.4. Bigram: c(0 1) = 1, c(0) = 1, one distinct
    follower: (1 - 0.75) / 1 + 0.75 * 1 / 1 * 0.4 = 0.55."""
    unigram, bigram = ngram_bits_per_byte([[0, 1]], [[0, 1]], [1, 1, 0])
    assert unigram == pytest.approx(-math.log2(0.4)) and bigram == pytest.approx(-math.log2(0.55))
    # A context never seen falls back to the unigram; padding is not predicted (the collator's labels).
    assert ngram_bits_per_byte([[0, 1]], [[1, 0]], [1, 1, 0]) == pytest.approx((-math.log2(0.4),) * 2)
    assert ngram_bits_per_byte([[0, 1]], [[0, 1, 2]], [1, 1, 0], pad_token_id=2) == pytest.approx((unigram, bigram))
    # Nothing counted: the uniform distribution, log2(V) bits per one-byte token.
    empty = np.zeros((0, 0), dtype=np.int64)
    assert ngram_bits_per_byte(empty, [[0, 1]], [1, 1, 1, 1]) == pytest.approx((2.0, 2.0))


def test_bigram_beats_unigram_on_repetitive_text():
    """Bytes of 'abcd' repeated, one token per byte, 800 counted (200 of each letter): the unigram gives every letter
    (200 + 1) / (800 + 256), about 2.4 bits (log2(4) = 2, plus add-one's cost over 256 ids); the bigram knows what
    comes next."""
    ids = np.frombuffer(b"abcd" * 300, dtype=np.uint8).astype(np.int64).reshape(-1, 40)
    unigram, bigram = ngram_bits_per_byte(ids[:20], ids[20:], np.ones(256, dtype=np.int64))
    assert unigram == pytest.approx(-math.log2(201 / 1056))
    assert bigram < 0.05


def test_ngram_baselines_map_style_and_streaming_agree(tiny_tokenizer):
    from datasets import Dataset

    from hfrecipes.modeling import load_tokenizer

    tokenizer = load_tokenizer(str(tiny_tokenizer))
    text = "def read(path):\n    return open(path).read()\n" * 40
    ids = tokenizer(text)["input_ids"]
    blocks = [ids[i : i + 16] for i in range(0, len(ids) - 16, 16)]
    train, validation = Dataset.from_dict({"input_ids": blocks[:-4]}), Dataset.from_dict({"input_ids": blocks[-4:]})
    whole = ngram_baselines(train, validation, tokenizer, train_tokens=10**9)
    assert whole["baseline_ngram_counted"] == f"all {len(blocks) - 4} blocks"
    assert whole["baseline_ngram_train_tokens"] == 16 * (len(blocks) - 4)
    assert 0 < whole["baseline_bigram_bits_per_byte"] < whole["baseline_unigram_bits_per_byte"]
    stream = ngram_baselines(train.to_iterable_dataset(), validation.to_iterable_dataset(), tokenizer, 10**9)
    assert stream["baseline_ngram_counted"] == f"the first {len(blocks) - 4} blocks of the stream"
    for key in ("baseline_unigram_bits_per_byte", "baseline_bigram_bits_per_byte"):
        assert stream[key] == pytest.approx(whole[key])
    budget = ngram_baselines(train, validation, tokenizer, train_tokens=40)  # 40 tokens: 3 blocks of 16
    assert budget["baseline_ngram_train_tokens"] == 48 and budget["baseline_ngram_counted"].startswith("3 of ")
    none = ngram_baselines(train, None, tokenizer, 100)
    assert none["baseline_bigram_bits_per_byte"] is None and none["baseline_ngram_skipped"]


# --- TF-IDF + logistic regression


def _task(rows: dict, pair: bool = False, labels=("bad", "good")):
    from datasets import ClassLabel, Dataset, DatasetDict, Features, Value

    columns = {"text": Value("string"), **({"text_pair": Value("string")} if pair else {})}
    label = Value("float32") if labels is None else ClassLabel(names=list(labels))
    features = Features({**columns, "label": label})
    raw = DatasetDict({split: Dataset.from_dict(data, features=features) for split, data in rows.items()})
    return raw, ClassificationTask(
        "toy", "text", "text_pair" if pair else None, None if labels is None else list(labels)
    )


def test_tfidf_baseline_on_a_separable_task():
    rng = np.random.default_rng(0)
    filler = ["the", "film", "plot", "was", "and", "story"]

    def rows(n):
        labels = rng.integers(0, 2, n)
        words = [["awful", "dull"], ["great", "lovely"]]
        return {"text": [" ".join([*rng.choice(filler, 4), rng.choice(words[y])]) for y in labels], "label": labels}

    raw, task = _task({"train": rows(200), "validation": rows(40), "test": rows(20), "selection": rows(10)})
    res = tfidf_baseline(raw, task)
    assert res["baseline_tfidf_lr_accuracy"] >= 0.95 and res["baseline_tfidf_lr_test_accuracy"] >= 0.95
    assert 0.95 <= res["baseline_tfidf_lr_f1_macro"] <= 1
    assert res["baseline_tfidf_lr_train_samples"] == 200 and res["baseline_tfidf_lr_estimator"] == "LogisticRegression"
    assert 0 < res["baseline_tfidf_lr_seconds"] < 30
    assert not any("selection" in k for k in res), "the selection split is the model's, not a score"


def test_tfidf_baseline_on_pair_tasks():
    """A paraphrase-like task only the pair's overlap decides (the cosine feature), and its regression version."""
    rng = np.random.default_rng(1)
    vocab = [f"w{i}" for i in range(60)]

    def rows(n, regression=False):
        a = [" ".join(rng.choice(vocab, 5, replace=False)) for _ in range(n)]
        same = rng.integers(0, 2, n)
        b = [x if s else " ".join(rng.choice(vocab, 5, replace=False)) for x, s in zip(a, same, strict=True)]
        return {"text": a, "text_pair": b, "label": same * 5.0 if regression else same}

    raw, task = _task({"train": rows(200), "validation": rows(60)}, pair=True, labels=("different", "same"))
    assert tfidf_baseline(raw, task)["baseline_tfidf_lr_accuracy"] > 0.9
    raw, task = _task({"train": rows(200, True), "validation": rows(60, True)}, pair=True, labels=None)
    res = tfidf_baseline(raw, task)
    assert res["baseline_tfidf_lr_estimator"] == "Ridge" and res["baseline_tfidf_lr_pearson"] > 0.8
    assert {"baseline_tfidf_lr_spearmanr", "baseline_tfidf_lr_mse"} <= set(res)


def test_tfidf_baseline_with_one_class_or_no_words():
    raw, task = _task(
        {"train": {"text": ["good one"] * 5, "label": [1] * 5}, "validation": {"text": ["x"], "label": [0]}}
    )
    res = tfidf_baseline(raw, task)
    assert res["baseline_tfidf_lr_estimator"] == "DummyClassifier" and res["baseline_tfidf_lr_accuracy"] == 0
    raw, task = _task({"train": {"text": ["!!", "?"], "label": [0, 1]}, "validation": {"text": ["x"], "label": [0]}})
    assert tfidf_baseline(raw, task) == {"baseline_tfidf_lr_skipped": "no training text holds a word"}


# --- showing them


def test_beside_and_describe():
    res = {"eval_accuracy": 0.812, "baseline_tfidf_lr_accuracy": 0.79, "baseline_tfidf_lr_test_accuracy": 0.7}
    assert beside(res, "eval_accuracy", "0.812", "{:.3f}".format) == "0.812 (TF-IDF + LR baseline: 0.790)"
    assert beside(res, "test_accuracy", "0.8", str) == "0.8 (TF-IDF + LR baseline: 0.7)"
    assert beside(res, "eval_loss", "0.5", str) == "0.5"
    assert beside({"baseline_tfidf_lr_train_samples": 60}, "train_samples", "60", str) == "60", "not a figure"
    lm = {"baseline_unigram_bits_per_byte": 2.6, "baseline_bigram_bits_per_byte": None}
    assert beside(lm, "eval_bits_per_byte", "1.9", str) == "1.9 (unigram baseline: 2.6)"
    assert describe({"eval_accuracy": 0.8}) is None
    assert "No n-gram baseline: no validation tokens to score." in describe(
        {"baseline_ngram_skipped": "no validation tokens to score"}
    )


def test_report_shows_baselines_beside_key_metrics(tmp_path):
    from hfrecipes.report import write_report

    stages = {
        "pretrain": {"eval_loss": 4.9, "eval_bits_per_byte": 1.93, "baseline_unigram_bits_per_byte": 2.59,
                     "baseline_bigram_bits_per_byte": 1.86, "baseline_ngram_train_tokens": 1000,
                     "baseline_ngram_token_cap": 10**7, "baseline_ngram_counted": "all 8 blocks"},
        "classify": {"eval_accuracy": 0.778, "baseline_tfidf_lr_accuracy": 0.892, "task": "python-docs-areas",
                     "baseline_tfidf_lr_estimator": "LogisticRegression", "baseline_tfidf_lr_train_samples": 770,
                     "baseline_tfidf_lr_seconds": 0.3},
    }  # fmt: skip
    for name, res in stages.items():
        (tmp_path / name).mkdir()
        (tmp_path / name / "results.json").write_text(json.dumps(res))
    text = write_report(tmp_path).read_text()
    assert "eval_bits_per_byte 1.93 (unigram baseline: 2.59, bigram baseline: 1.86)" in text
    assert "eval_accuracy 0.778 (TF-IDF + LR baseline: 0.892)" in text and "baseline_tfidf" not in text
    assert "classify: Baselines in parentheses. TF-IDF + LR:" in text and "on 1,000 training tokens" in text
    assert "(TF-IDF + LR baseline: 0.892)" in (tmp_path / "report.html").read_text()


# --- the card's data for a dataset mixture


def test_card_lists_the_sources_of_a_mixture(tmp_path):
    import yaml
    from huggingface_hub import ModelCard

    from hfrecipes.cards import write_model_card

    (tmp_path / "extra.jsonl").write_text('{"text": "x"}\n')
    mixture = [
        {"path": "builtin:python-docs", "weight": 0.5},
        {"path": "someone/web-corpus", "name": "en", "weight": 0.3},
        {"data_files": [str(tmp_path / "extra.jsonl")], "weight": 0.2},
    ]
    config = {"dataset_name": "builtin:python-docs", "dataset_mixture": mixture, "train_file": None}
    (tmp_path / "run_config.yaml").write_text(yaml.safe_dump(config))
    (tmp_path / "results.json").write_text(json.dumps({"eval_loss": 3.0}))
    (tmp_path / "config.json").write_text(json.dumps({"architectures": ["GPT2LMHeadModel"]}))
    card = ModelCard.load(write_model_card(tmp_path, pipeline_tag="text-generation", metrics=["eval_loss"]))
    assert card.data.datasets == ["someone/web-corpus"], "Hub ids only; builtin and local sources are text"
    data = "a mixture of `builtin:python-docs` (50%), `someone/web-corpus (en)` (30%), `local files extra.jsonl` (20%)"
    assert f"- Data: {data}" in card.text and f"on {data}." in card.text
    assert card.data.eval_results[0].dataset_type == "mixture"
    config["dataset_mixture"] = [
        {"path": "builtin:python-docs"},
        {"data_files": {"train": "a.txt", "validation": "b.txt"}},
    ]
    (tmp_path / "run_config.yaml").write_text(yaml.safe_dump(config))
    card = ModelCard.load(write_model_card(tmp_path, pipeline_tag="text-generation"))
    assert card.data.datasets is None and "`local files a.txt` (50%)" in card.text


# --- end to end: the recipes write them, the cards show them


def test_pretrain_run_writes_ngram_baselines_and_its_card_shows_them(tiny_lm):
    """The tiny GPT-2 of conftest (20 steps of 8 blocks of 64 on the builtin corpus)."""
    res = json.loads((tiny_lm / "results.json").read_text())
    unigram, bigram = res["baseline_unigram_bits_per_byte"], res["baseline_bigram_bits_per_byte"]
    assert 1 < unigram < 8 and 0 < bigram <= unigram + 0.05
    assert res["baseline_ngram_train_tokens"] == res["train_tokens"] == 20 * 8 * 64, "budget-matched"
    assert res["baseline_ngram_counted"].startswith("160 of ") and res["baseline_ngram_seconds"] < 30
    text = (tiny_lm / "README.md").read_text()
    shown = f"| eval_bits_per_byte | {res['eval_bits_per_byte']:.4g} (unigram baseline: {unigram:.4g}, bigram"
    assert shown in text and "Baselines in parentheses. Unigram (add-one)" in text
    assert "| baseline_" not in text, "baselines sit beside their figure, not in rows of their own"


@pytest.fixture
def tiny_csv_task(tmp_path):
    rng = np.random.default_rng(0)
    words = {"pos": ["fun", "great"], "neg": ["dull", "bad"]}
    for split, n in (("train", 60), ("dev", 20)):
        with open(tmp_path / f"{split}.csv", "w", newline="") as f:
            rows = [(f"a {rng.choice(words[y])} film", y) for y in rng.choice(list(words), n)]
            csv.writer(f).writerows([("review", "sentiment"), *rows])
    data = ["--train_file", str(tmp_path / "train.csv"), "--validation_file", str(tmp_path / "dev.csv")]
    return [*data, "--text_column", "review", "--label_column", "sentiment"]


# fmt: off
QUICK = ["--max_seq_length", "16", "--per_device_train_batch_size", "16", "--max_steps", "2", "--eval_strategy", "no",
         "--save_strategy", "no", "--report_to", "none", "--max_train_minutes", "0"]
# fmt: on


def test_classify_run_writes_the_tfidf_baseline_and_its_card_shows_it(tiny_lm, tiny_csv_task, tmp_path):
    out = tmp_path / "on"
    load_recipe("classify").main(
        [*QUICK, *tiny_csv_task, "--model_name_or_path", str(tiny_lm), "--output_dir", str(out)]
    )
    res = json.loads((out / "results.json").read_text())
    assert res["baseline_tfidf_lr_accuracy"] == 1.0 and res["baseline_tfidf_lr_train_samples"] == res["train_samples"]
    assert "baseline_tfidf_lr_f1_macro" in res and res["baseline_tfidf_lr_seconds"] > 0
    text = (out / "README.md").read_text()
    assert f"| eval_accuracy | {res['eval_accuracy']:.4g} (TF-IDF + LR baseline: 1) |" in text
    assert "fitted on the same 60 training rows" in text
    off = tmp_path / "off"
    load_recipe("classify").main(
        [*QUICK, *tiny_csv_task, "--model_name_or_path", str(tiny_lm), "--output_dir", str(off), "--baseline", "false"]
    )
    assert not any(k.startswith("baseline_") for k in json.loads((off / "results.json").read_text()))


def test_baseline_switch_of_pretrain_parses():
    from hfrecipes.config import parse_config

    recipe = load_recipe("pretrain")
    run_args = parse_config(recipe.CONFIG_CLASSES, ["--baseline", "false"], recipe.DEFAULT_CONFIG)[2]
    assert run_args.baseline is False
    assert parse_config(recipe.CONFIG_CLASSES, [], recipe.DEFAULT_CONFIG)[2].baseline is True
