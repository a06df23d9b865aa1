import csv
import json
import logging
import math
import os

import numpy as np
import pytest
from conftest import SHARED_DATA, launch, launch_killed, load_recipe, max_weight_diff

from hfrecipes.metrics import load_metric

GLUE = SHARED_DATA / "glue"
# fmt: off
TINY = ["--max_seq_length", "48", "--per_device_train_batch_size", "16", "--per_device_eval_batch_size", "64",
        "--learning_rate", "3e-3", "--max_steps", "12", "--warmup_steps", "0", "--eval_strategy", "no",
        "--save_strategy", "no", "--report_to", "none", "--logging_steps", "4", "--max_train_minutes", "0"]
# fmt: on


def classify(*args: str):
    load_recipe("classify").main([*TINY, *args])


def results(out) -> dict:
    return json.loads((out / "results.json").read_text())


def read_tsv(path) -> list[dict]:
    with open(path, encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE))


# --- the metric module against sklearn / scipy


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_glue_metric_matches_sklearn_and_scipy(seed):
    from scipy.stats import pearsonr, spearmanr
    from sklearn.metrics import accuracy_score, f1_score, matthews_corrcoef

    rng = np.random.default_rng(seed)
    refs, preds = rng.integers(0, 2, 300), rng.integers(0, 2, 300)
    preds[:150] = refs[:150]  # better than chance, so the figures are not all near 0
    cola = load_metric("glue", config_name="cola").compute(predictions=preds, references=refs)
    assert cola["matthews_correlation"] == pytest.approx(matthews_corrcoef(refs, preds))
    mrpc = load_metric("glue", config_name="mrpc").compute(predictions=preds, references=refs)
    assert mrpc["accuracy"] == pytest.approx(accuracy_score(refs, preds))
    assert mrpc["f1"] == pytest.approx(f1_score(refs, preds))
    assert mrpc["combined_score"] == pytest.approx((mrpc["accuracy"] + mrpc["f1"]) / 2)
    three_refs, three_preds = rng.integers(0, 3, 300), rng.integers(0, 3, 300)
    mnli = load_metric("glue", config_name="mnli").compute(predictions=three_preds, references=three_refs)
    assert mnli == {"accuracy": pytest.approx(accuracy_score(three_refs, three_preds))}
    new = load_metric("glue", config_name="classification").compute(predictions=three_preds, references=three_refs)
    assert new["f1_macro"] == pytest.approx(f1_score(three_refs, three_preds, average="macro"))
    assert load_metric("glue", config_name="cola").compute(predictions=three_preds, references=three_refs)[
        "matthews_correlation"
    ] == pytest.approx(matthews_corrcoef(three_refs, three_preds))
    scores = np.round(rng.uniform(0, 5, 300), 1)  # rounding makes ties, which Spearman ranks by their average
    noisy = np.round(scores + rng.normal(0, 1.5, 300), 1)
    stsb = load_metric("glue", config_name="stsb").compute(predictions=noisy, references=scores)
    assert stsb["pearson"] == pytest.approx(pearsonr(noisy, scores)[0], rel=1e-5)
    assert stsb["spearmanr"] == pytest.approx(spearmanr(noisy, scores)[0], rel=1e-5)
    assert stsb["combined_score"] == pytest.approx((stsb["pearson"] + stsb["spearmanr"]) / 2)


def test_glue_metric_edge_cases():
    cola = load_metric("glue", config_name="cola")
    assert cola.compute(predictions=[1, 1, 1], references=[0, 1, 1])["matthews_correlation"] == 0.0
    assert load_metric("glue", config_name="mrpc").compute(predictions=[0, 0], references=[0, 0])["f1"] == 0.0
    with pytest.raises(KeyError, match="unknown GLUE metric configuration 'sst3'"):
        load_metric("glue", config_name="sst3")


# --- data: GLUE TSV shapes, the builtin task, label mapping


@pytest.mark.parametrize(
    "task,rows,columns,labels",
    [
        ("SST-2", (67349, 872, 1821), ["sentence"], {0, 1}),
        ("CoLA", (8551, 1043, 1063), ["sentence"], {0, 1}),  # no header row in train/dev
        ("MRPC", (3667, 408, 1725), ["sentence1", "sentence2"], {0, 1}),  # BOM, '#1 String' columns
        ("STS-B", (5749, 1500, 1379), ["sentence1", "sentence2"], None),
        ("RTE", (2490, 277, 3000), ["sentence1", "sentence2"], {0, 1}),  # labels spelled as names
    ],
)
def test_glue_tsv_shapes(task, rows, columns, labels, shared_data):
    from hfrecipes.glue import get_task, glue_files, load_glue

    glue = get_task(task)
    raw = load_glue(glue, {s: [p] for s, p in glue_files(shared_data / "glue", glue).items()})
    assert tuple(len(raw[s]) for s in ("train", "validation", "test")) == rows
    assert raw["train"].column_names == [*columns, "label", "idx"] and "label" not in raw["test"].column_names
    if labels is None:
        assert 0 <= min(raw["validation"]["label"]) and max(raw["validation"]["label"]) <= 5
    else:
        assert set(raw["validation"]["label"]) == labels
    assert all(raw["train"][0][c] for c in columns)
    if task == "MRPC":  # a bare quote opens this sentence: with quote processing it would swallow later rows
        assert raw["validation"][0]["sentence2"].startswith('" The foodservice')


def test_unknown_glue_task_names_the_valid_ones():
    from hfrecipes.errors import UserError
    from hfrecipes.glue import get_task

    assert get_task("STS-B").name == "stsb" and get_task("CoLA").name == "cola"
    with pytest.raises(UserError, match="choose one of cola, sst2, mrpc, qqp, stsb, mnli, qnli, rte, wnli"):
        get_task("sst3")


def test_builtin_task_is_balanced_deterministic_and_hides_the_module():
    from hfrecipes.classification import STDLIB_AREAS, load_python_docs_task

    raw = load_python_docs_task()
    for split, ds in raw.items():
        counts = np.bincount(ds["label"], minlength=len(STDLIB_AREAS))
        assert counts.min() == counts.max() >= (100 if split == "train" else 20), (split, counts)
    assert raw["train"].features["label"].names == list(STDLIB_AREAS)
    assert not {t.split("\n")[0] for t in raw["train"]["text"]} & {"Module asyncio", "Module http.client"}
    assert raw["train"]["text"][:5] == load_python_docs_task()["train"]["text"][:5]


# --- padding: the head reads the last real token on either side


def test_padding_side_does_not_change_logits(tiny_lm):
    import torch

    from hfrecipes.classification import ClassificationCollator, end_with_eos
    from hfrecipes.modeling import load_sequence_classifier, load_tokenizer

    tokenizer = end_with_eos(load_tokenizer(str(tiny_lm)))
    model = load_sequence_classifier(str(tiny_lm), tokenizer, ["a", "b", "c"]).eval()
    texts = ["short", "a much longer text with many more tokens in it than the others", "medium sized text"]
    encoded = [tokenizer(t) for t in texts]
    assert all(e["input_ids"][-1] == tokenizer.eos_token_id for e in encoded)
    assert tokenizer.pad_token_id != tokenizer.eos_token_id
    with torch.no_grad():
        alone = torch.cat([model(**tokenizer(t, return_tensors="pt")).logits for t in texts])
        for side in ("right", "left"):
            tokenizer.padding_side = side
            batch = ClassificationCollator(tokenizer)([dict(e) for e in encoded])
            assert (batch["input_ids"][:, 0 if side == "left" else -1] == tokenizer.pad_token_id).any()
            torch.testing.assert_close(model(**batch).logits, alone, atol=1e-5, rtol=1e-4)
            if side == "left":  # the position ids are what make left padding right
                del batch["position_ids"]
                assert not torch.allclose(model(**batch).logits, alone, atol=1e-3)


# --- end to end


@pytest.fixture(scope="module")
def default_run(tiny_lm, tmp_path_factory):
    out = tmp_path_factory.mktemp("classify") / "default"
    # The default config, with a learning rate for a 32-wide model.
    launch("classify", "--model_name_or_path", str(tiny_lm), "--output_dir", str(out), "--learning_rate", "3e-3")
    return out


@pytest.mark.slow
def test_default_task_runs_offline(default_run):
    res = results(default_run)
    assert res["task"] == "python-docs-areas" and len(res["label_names"]) == 5
    assert res["eval_accuracy"] > 0.3, "well above the 0.2 of chance on five balanced classes"
    assert 0 <= res["eval_f1_macro"] <= 1
    config = json.loads((default_run / "config.json").read_text())
    assert config["id2label"] == {str(i): n for i, n in enumerate(res["label_names"])}
    assert config["pad_token_id"] == 1 and config["architectures"] == ["GPT2ForSequenceClassification"]
    for name in ("model.safetensors", "tokenizer.json", "run_config.yaml", "run_info.json", "trainer_state.json"):
        assert (default_run / name).is_file(), name


@pytest.mark.slow
@pytest.mark.parametrize(
    "task,metrics,source",
    [
        ("SST-2", ["accuracy"], "glue_dir"),
        ("CoLA", ["matthews_correlation"], "files"),
        ("MRPC", ["accuracy", "f1", "combined_score"], "files"),
        ("STS-B", ["pearson", "spearmanr", "combined_score"], "glue_dir"),
        ("RTE", ["accuracy"], "files"),
    ],
)
def test_glue_tsv_end_to_end(task, metrics, source, tiny_lm, tmp_path, shared_data):
    folder = shared_data / "glue" / task
    if source == "glue_dir":
        data = ["--glue_dir", str(shared_data / "glue")]
    else:
        data = ["--train_file", str(folder / "train.tsv"), "--validation_file", str(folder / "dev.tsv")]
        data += ["--test_file", str(folder / "test.tsv")]
    if task == "RTE":
        data += ["--padding_side", "left"]
    out = tmp_path / task
    classify(
        "--task_name", task, *data, "--model_name_or_path", str(tiny_lm), "--output_dir", str(out),
        "--max_train_samples", "300", "--max_eval_samples", "200", "--max_predict_samples", "40",
    )  # fmt: skip
    res = results(out)
    for name in metrics:
        value = res[f"eval_{name}"]
        assert (0 if name in ("accuracy", "f1") else -1) <= value <= 1, name
        assert not math.isnan(value), name
    assert res["prediction_files"] == [f"{task}.tsv"]
    rows = read_tsv(out / f"{task}.tsv")
    assert len(rows) == 40 and list(rows[0]) == ["index", "prediction"]
    if task == "STS-B":
        assert all(0 <= float(r["prediction"]) <= 5 for r in rows)
    else:
        allowed = {"entailment", "not_entailment"} if task == "RTE" else {"0", "1"}
        assert {r["prediction"] for r in rows} <= allowed


def write_mnli(folder):
    """A tiny MNLI folder in the GLUE layout: matched and mismatched dev and test files, labels spelled as names."""
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True)
    labels = ["entailment", "neutral", "contradiction"]
    parses = ["sentence1_binary_parse", "sentence2_binary_parse", "sentence1_parse", "sentence2_parse"]
    head = ["index", "promptID", "pairID", "genre", *parses, "sentence1", "sentence2"]
    for name, n, extra in [("train", 90, ["label1", "gold_label"]), ("dev_matched", 30, ["label1", "gold_label"]),
                           ("dev_mismatched", 30, ["label1", "gold_label"]), ("test_matched", 12, []),
                           ("test_mismatched", 12, [])]:  # fmt: skip
        rows = []
        for i in range(n):
            label = labels[rng.integers(3)]
            premise = f'the "{label[:4]}" man {i} walks'  # a bare quote, as in the real files
            ids = [str(i), "1", f"{i}e", "fiction", "(", "(", "(", "("]
            rows.append([*ids, premise, "a man walks", *[label] * len(extra)])
        lines = ["\t".join(head + extra)] + ["\t".join(r) for r in rows]
        (folder / f"{name}.tsv").write_text("\n".join(lines) + "\n")


@pytest.mark.slow
def test_mnli_matched_and_mismatched(tiny_lm, tmp_path):
    write_mnli(tmp_path / "glue" / "MNLI")
    out = tmp_path / "mnli"
    classify("--task_name", "MNLI", "--glue_dir", str(tmp_path / "glue"), "--model_name_or_path", str(tiny_lm),
             "--output_dir", str(out))  # fmt: skip
    res = results(out)
    assert res["label_names"] == ["entailment", "neutral", "contradiction"]
    # Each dev file is scored whole: 30 examples each, so accuracy is a count out of 30.
    assert res["eval_samples"] == res["eval_mismatched_samples"] == 30
    assert (res["eval_accuracy"] * 30) == pytest.approx(round(res["eval_accuracy"] * 30))
    assert res["prediction_files"] == ["MNLI-m.tsv", "MNLI-mm.tsv"]
    predicted = read_tsv(out / "MNLI-mm.tsv")
    assert len(predicted) == 12 and {r["prediction"] for r in predicted} <= set(res["label_names"])


@pytest.fixture
def reviews(tmp_path):
    """A new task with string labels: a CSV whose label says which word family the text uses."""
    rng = np.random.default_rng(0)
    words = {"good": ["great", "lovely", "fine"], "bad": ["awful", "poor", "dull"], "meh": ["okay", "average", "so"]}
    filler = ["the", "film", "plot", "was", "quite", "and", "acting", "story"]

    def write(name, n, labelled=True):
        path = tmp_path / f"{name}.csv"
        with open(path, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["review", "stars"] if labelled else ["review"])
            for _ in range(n):
                label = rng.choice(list(words))
                text = " ".join([*rng.choice(filler, 4), rng.choice(words[label]), *rng.choice(filler, 3)])
                w.writerow([text, label] if labelled else [text])
        return path

    return write("train", 240), write("dev", 60), write("test", 20, labelled=False)


@pytest.mark.slow
def test_new_task_from_csv_with_string_labels(reviews, tiny_lm, tmp_path):
    from transformers import pipeline

    train, dev, test = reviews
    out = tmp_path / "reviews"
    classify(
        "--train_file", str(train), "--validation_file", str(dev), "--test_file", str(test),
        "--text_column", "review", "--label_column", "stars", "--model_name_or_path", str(tiny_lm),
        "--output_dir", str(out), "--max_steps", "45",
    )  # fmt: skip
    res = results(out)
    assert res["label_names"] == ["bad", "good", "meh"] and res["eval_samples"] == 60
    assert {r["prediction"] for r in read_tsv(out / "predictions.tsv")} <= {"bad", "good", "meh"}
    # The saved model, through transformers' pipeline, scores the dev file as the run reported.
    classifier = pipeline("text-classification", model=str(out))
    with open(dev, newline="") as f:
        rows = list(csv.DictReader(f))
    predicted = [p["label"] for p in classifier([r["review"] for r in rows], batch_size=1)]
    right = sum(p == r["stars"] for p, r in zip(predicted, rows, strict=True))
    assert right / len(rows) == pytest.approx(res["eval_accuracy"])


def test_killed_run_resumes_with_the_same_command(tiny_lm, tmp_path, caplog):
    """SIGKILL mid-training, rerun the same command: it resumes from checkpoint-4 and ends as an uninterrupted run."""
    command = [*TINY, "--model_name_or_path", str(tiny_lm), "--save_strategy", "steps", "--save_steps", "4"]
    run = load_recipe("classify").main
    run([*command, "--output_dir", str(tmp_path / "whole")])
    out = tmp_path / "killed"
    launch_killed("classify", "step:6", *command, "--output_dir", str(out))
    assert sorted(p.name for p in out.glob("checkpoint-*")) == ["checkpoint-4"] and not (out / "results.json").exists()
    caplog.set_level(logging.INFO, logger="hfrecipes.runs")
    run([*command, "--output_dir", str(out)])
    assert f"from {out / 'checkpoint-4'}" in caplog.text
    assert max_weight_diff(tmp_path / "whole", out) <= 1e-5
    whole, resumed = results(tmp_path / "whole"), results(out)
    assert resumed["train_steps"] == 12 and resumed["eval_accuracy"] == whole["eval_accuracy"]


# --- model selection on a split carved from train; pooling, dropout and label smoothing


def test_selection_split_is_carved_from_train_only(tmp_path):
    """Stratified, fixed by the seed, disjoint from the training rows kept, and never drawn from the dev file."""
    from hfrecipes.classification import ClassificationDataArguments, load_classification_datasets

    labels = ["a"] * 120 + ["b"] * 60 + ["c"] * 20
    (tmp_path / "train.csv").write_text("text,label\n" + "".join(f"train row {i},{y}\n" for i, y in enumerate(labels)))
    (tmp_path / "dev.csv").write_text("text,label\n" + "".join(f"dev row {i},{'abc'[i % 3]}\n" for i in range(30)))

    def load(seed, **kwargs):
        args = ClassificationDataArguments(train_file=[str(tmp_path / "train.csv")], **kwargs)
        return load_classification_datasets(args, seed=seed)[0]

    dev = [str(tmp_path / "dev.csv")]
    raw = load(3, validation_file=dev, selection_split_percentage=25)
    train, selection = set(raw["train"]["text"]), set(raw["selection"]["text"])
    assert len(selection) == 50 and not train & selection
    assert train | selection == {f"train row {i}" for i in range(200)}
    assert raw["validation"]["text"] == [f"dev row {i}" for i in range(30)]  # the dev file, whole and untouched
    assert np.bincount(raw["selection"]["label"]).tolist() == [30, 15, 5]  # each class keeps its share
    assert load(3, validation_file=dev, selection_split_percentage=25)["selection"]["text"] == raw["selection"]["text"]
    assert set(load(4, validation_file=dev, selection_split_percentage=25)["selection"]["text"]) != selection
    # No dev file: validation is carved first (validation_split_percentage), selection from what train keeps.
    raw = load(3, selection_split_percentage=10, max_train_samples=150)
    parts = [set(raw[s]["text"]) for s in ("train", "validation", "selection")]
    assert [len(p) for p in parts] == [135, 20, 15]  # 200 -> 180 + 20 validation; 150 kept -> 135 + 15
    assert not (parts[0] & parts[1] or parts[0] & parts[2] or parts[1] & parts[2])
    assert "selection" not in load(3, validation_file=dev)


def test_held_out_rows_leave_none_of_their_phrases_in_train(tmp_path):
    """SST-2-style treebank rows (each sentence and its labelled phrases): only whole sentences are held out, for the
    selection split and for a carved validation split alike, and their phrases, in any case, leave train."""
    from hfrecipes.classification import ClassificationDataArguments, load_classification_datasets

    rows = []
    for i in range(40):
        label = "pos" if i % 2 else "neg"
        words = (f"film{i} was good and the cast{i} shone" if i % 2 else f"film{i} was dull ; cast{i} too").split()
        rows += [(" ".join(words[a:b]), label) for a in range(len(words)) for b in range(a + 2, a + 4)]
        rows.append((" ".join(words).upper(), label))  # the sentence, in another case
    (tmp_path / "train.csv").write_text("text,label\n" + "".join(f"{t},{y}\n" for t, y in rows))
    (tmp_path / "dev.csv").write_text("text,label\nfine,pos\nbad,neg\n")
    for split, kwargs in (
        ("selection", {"selection_split_percentage": 5, "validation_file": [str(tmp_path / "dev.csv")]}),
        ("validation", {"validation_split_percentage": 5}),
    ):
        args = ClassificationDataArguments(train_file=[str(tmp_path / "train.csv")], **kwargs)
        raw = load_classification_datasets(args, seed=0)[0]
        held, train = raw[split]["text"], raw["train"]["text"]
        assert len(held) == round(0.05 * len(rows)) and all(t.isupper() for t in held)  # whole sentences only
        if split == "selection":  # 560 rows, 260 neg and 300 pos: 28 held out, each class its share
            assert np.bincount(raw[split]["label"]).tolist() == [13, 15]
        inside = [t for t, _ in rows if t not in held and any(f" {t.lower()} " in f" {h.lower()} " for h in held)]
        assert inside and sorted(train) == sorted(t for t, _ in rows if t not in held and t not in inside)
    # A row's duplicates are held out with it (a row inside its duplicate is still a whole row): 10 rows of 4 texts.
    (tmp_path / "dups.csv").write_text("text,label\n" + "nice film,pos\nbad film,neg\ngood,pos\nawful,neg\n" * 10)
    args = ClassificationDataArguments(train_file=[str(tmp_path / "dups.csv")], validation_split_percentage=5)
    raw = load_classification_datasets(args, seed=0)[0]
    assert len(set(raw["validation"]["text"])) == 1 and len(raw["validation"]) == 10 and len(raw["train"]) == 30
    assert not set(raw["validation"]["text"]) & set(raw["train"]["text"])


@pytest.mark.slow
def test_early_stopping_stops_and_the_best_checkpoint_is_saved(reviews, tiny_lm, tmp_path):
    """Patience 1 and a threshold accuracy cannot beat: training stops at the second evaluation. At a learning rate
    too small to change a prediction, the second is no better, so the first checkpoint is the one saved."""
    train, dev, _ = reviews
    out = tmp_path / "selected"
    classify(
        "--train_file", str(train), "--validation_file", str(dev), "--text_column", "review", "--label_column",
        "stars", "--model_name_or_path", str(tiny_lm), "--output_dir", str(out), "--max_steps", "40",
        "--learning_rate", "1e-6", "--selection_split_percentage", "20", "--eval_strategy", "steps",
        "--eval_steps", "2", "--save_strategy", "steps", "--save_steps", "2", "--load_best_model_at_end", "true",
        "--metric_for_best_model", "accuracy", "--early_stopping_patience", "1", "--early_stopping_threshold", "1",
    )  # fmt: skip
    res = results(out)
    assert res["train_steps"] == 4 and res["stopped_early"] and res["best_step"] == 2
    state = json.loads((out / "trainer_state.json").read_text())
    assert state["best_model_checkpoint"] == str(out / "checkpoint-2")
    assert max_weight_diff(out, out / "checkpoint-2") == 0  # the saved model is the best checkpoint...
    assert max_weight_diff(out / "checkpoint-4", out / "checkpoint-2") > 0  # ...not the last one
    # Selection ran on 20% of train (48 rows); the dev file is scored once, at the end, whole.
    assert res["selection_samples"] == 48 and res["train_samples"] == 192 and res["eval_samples"] == 60
    evals = [e for e in state["log_history"] if "eval_accuracy" in e]  # the evaluations during training
    assert [round(e["eval_runtime"] * e["eval_samples_per_second"]) for e in evals] == [48, 48]
    assert {e["eval_accuracy"] for e in evals} == {res["selection_accuracy"]}


def test_mean_pooling_reads_every_token_on_either_padding_side(tiny_lm, tmp_path):
    """Also: the Trainer's label smoothing on either head is torch's label-smoothed cross-entropy of its logits."""
    import torch
    import torch.nn.functional as F
    from transformers import Trainer, TrainingArguments, set_seed

    from hfrecipes.classification import ClassificationCollator, classifier_options, end_with_eos
    from hfrecipes.modeling import load_sequence_classifier, load_tokenizer

    tokenizer = end_with_eos(load_tokenizer(str(tiny_lm)))
    models = {}
    for pooling in ("last", "mean"):
        set_seed(0)  # the same new head for both
        model_class, overrides = classifier_options(str(tiny_lm), pooling)
        models[pooling] = load_sequence_classifier(str(tiny_lm), tokenizer, ["a", "b"], False, model_class).eval()
    assert type(models["mean"]).__name__ == "MeanPooledGPT2ForSequenceClassification" and not overrides
    texts = ["short", "a much longer text with many more tokens in it than the others", "medium sized text"]
    encoded = [tokenizer(t) for t in texts]
    with torch.no_grad():
        alone = {
            p: torch.cat([m(**tokenizer(t, return_tensors="pt")).logits for t in texts]) for p, m in models.items()
        }
        assert not torch.allclose(alone["mean"], alone["last"], atol=1e-3)
        hidden = models["mean"].transformer(**tokenizer(texts[0], return_tensors="pt")).last_hidden_state
        torch.testing.assert_close(alone["mean"][0], models["mean"].score(hidden.mean(1))[0])
        for side in ("right", "left"):
            tokenizer.padding_side = side
            batch = ClassificationCollator(tokenizer)([dict(e) for e in encoded])
            torch.testing.assert_close(models["mean"](**batch).logits, alone["mean"], atol=1e-5, rtol=1e-4)
        labels = torch.tensor([0, 1, 1])
        smoothing = TrainingArguments(str(tmp_path), label_smoothing_factor=0.1, report_to=[], use_cpu=True)
        for pooling, model in models.items():
            loss = Trainer(model=model, args=smoothing).compute_loss(model, {**batch, "labels": labels})
            torch.testing.assert_close(loss, F.cross_entropy(alone[pooling], labels, label_smoothing=0.1))


@pytest.mark.slow
def test_mean_pooled_model_reloads_through_pipeline(reviews, tiny_lm, tmp_path):
    """With label smoothing and both dropouts: the saved folder carries its code, predicts through `pipeline` as the
    run scored it, and, in a process without hfrecipes, loads with trust_remote_code=True (and only with it)."""
    import subprocess
    import sys

    from transformers import pipeline

    train, dev, _ = reviews
    out = tmp_path / "mean"
    classify(
        "--train_file", str(train), "--validation_file", str(dev), "--text_column", "review", "--label_column",
        "stars", "--model_name_or_path", str(tiny_lm), "--output_dir", str(out),
        "--pooling", "mean", "--label_smoothing_factor", "0.1", "--dropout", "0.1", "--classifier_dropout", "0.1",
    )  # fmt: skip
    res = results(out)
    config = json.loads((out / "config.json").read_text())
    assert config["model_type"] == "gpt2-mean-pooled" and (out / "pooling.py").is_file()
    assert config["classifier_dropout"] == config["resid_pdrop"] == config["attn_pdrop"] == 0.1
    assert "trust_remote_code=True" in (out / "README.md").read_text()
    with open(dev, newline="") as f:
        rows = list(csv.DictReader(f))
    texts = [r["review"] for r in rows]
    predicted = [p["label"] for p in pipeline("text-classification", model=str(out))(texts, batch_size=1)]
    right = sum(p == r["stars"] for p, r in zip(predicted, rows, strict=True))
    assert right / len(rows) == pytest.approx(res["eval_accuracy"])
    script = (
        "import json, sys\n"
        "from transformers import pipeline\n"
        "try:\n"
        "    pipeline('text-classification', model=sys.argv[1])\n"
        "    sys.exit('loaded without trust_remote_code')\n"
        "except ValueError as err:\n"
        "    assert 'trust_remote_code=True' in str(err), err\n"
        "classifier = pipeline('text-classification', model=sys.argv[1], trust_remote_code=True)\n"
        "assert 'hfrecipes' not in sys.modules\n"
        "print('PREDICTED', json.dumps([p['label'] for p in classifier(json.loads(sys.argv[2]))]))\n"
    )
    env = {**os.environ, "HF_MODULES_CACHE": str(tmp_path / "modules")}
    proc = subprocess.run([sys.executable, "-c", script, str(out), json.dumps(texts)], capture_output=True,
                          text=True, env=env, stdin=subprocess.DEVNULL, timeout=120)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert json.loads(proc.stdout.split("PREDICTED ")[-1]) == predicted


def test_frozen_embeddings_stay_as_pretrained(reviews, tiny_lm, tmp_path):
    """--freeze_embeddings: the saved classifier's token and position embeddings are the pretrained ones, bit for
    bit, while the blocks and the head trained (mean pooling: the same for the pooled class)."""
    from safetensors.torch import load_file

    train, dev, _ = reviews
    out = tmp_path / "frozen"
    classify(
        "--train_file", str(train), "--validation_file", str(dev), "--text_column", "review", "--label_column",
        "stars", "--model_name_or_path", str(tiny_lm), "--output_dir", str(out), "--pooling", "mean",
        "--freeze_embeddings", "true",
    )  # fmt: skip
    pretrained, tuned = load_file(str(tiny_lm / "model.safetensors")), load_file(str(out / "model.safetensors"))
    for name in ("transformer.wte.weight", "transformer.wpe.weight"):
        assert name in tuned and tuned[name].equal(pretrained[name]), name
    block = "transformer.h.0.mlp.c_fc.weight"
    assert not tuned[block].equal(pretrained[block])
    assert tuned["score.weight"].abs().sum() > 0 and results(out)["train_steps"] == 12


def test_no_evaluations_turn_model_selection_off(tiny_lm, tmp_path):
    """A quick run with eval_strategy 'no' over a config that selects: nothing to compare, so the last step is kept."""
    from transformers import TrainingArguments

    recipe = load_recipe("classify")
    args = recipe.ClassifyArguments(model_name_or_path=str(tiny_lm), early_stopping_patience=2)
    training = TrainingArguments(str(tmp_path), eval_strategy="no", save_strategy="best", load_best_model_at_end=True)
    recipe.check_selection(args, training)
    assert args.early_stopping_patience == 0 and not training.load_best_model_at_end
