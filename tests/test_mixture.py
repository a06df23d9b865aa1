"""Weighted dataset mixtures (``dataset_mixture``): shares, reproducibility, held-out rows, recipes, config errors."""

import itertools
import json
from collections import Counter

import pytest
import yaml
from conftest import load_recipe

from hfrecipes.config import parse_config
from hfrecipes.data import DataArguments, load_datasets, load_text_datasets, mixture_results
from hfrecipes.errors import UserError

N_ROWS = 400


@pytest.fixture
def two_sources(tmp_path):
    """Two JSONL files with the text under different column names: ``text`` (alpha) and ``body`` (beta)."""
    alpha, beta = tmp_path / "alpha.jsonl", tmp_path / "beta.jsonl"
    alpha.write_text("".join(json.dumps({"text": f"alpha document {i}", "id": i}) + "\n" for i in range(N_ROWS)))
    beta.write_text("".join(json.dumps({"body": f"beta document {i}"}) + "\n" for i in range(N_ROWS)))
    return [
        {"data_files": [str(alpha)], "weight": 0.8},
        {"data_files": str(beta), "weight": 0.2, "columns": {"body": "text"}},
    ]


def mixed(sources, seed=0, *flags):
    args = parse_config([DataArguments], ["--dataset_mixture", json.dumps(sources), *flags])[0]
    return load_text_datasets(args, seed=seed)


def shares(raw) -> dict[str, float]:
    return {name: figures["share"] for name, figures in mixture_results(raw)["mixture"].items()}


def test_map_style_mixture_realises_the_weights_reproducibly(two_sources):
    raw = mixed(two_sources, 1)
    texts = raw["train"]["text"]
    assert raw["train"].column_names == ["text"], "only the recipe's column is kept, renamed from body"
    figures = mixture_results(raw)
    assert figures["mixture_counted"] == "rows of the mixed training set"
    rows = {name.rsplit("/", 1)[-1]: f["rows"] for name, f in figures["mixture"].items()}
    assert rows == {
        "alpha.jsonl": sum(t.startswith("alpha") for t in texts),
        "beta.jsonl": len(texts) - rows["alpha.jsonl"],
    }
    assert [f["weight"] for f in figures["mixture"].values()] == [0.8, 0.2]
    assert list(shares(raw).values()) == pytest.approx([0.8, 0.2], abs=0.05)
    # first_exhausted (the default): alpha, the likelier source, runs out first and no row repeats
    assert rows["alpha.jsonl"] == N_ROWS * 0.95 and len(set(texts)) == len(texts)
    assert mixed(two_sources, 1)["train"]["text"] == texts, "same seed, same order"
    assert mixed(two_sources, 2)["train"]["text"] != texts, "another seed, another order"
    # validation: held out per source before mixing (5% of each), so no training row is evaluated on
    validation = raw["validation"]["text"]
    assert Counter(t.split()[0] for t in validation) == {"alpha": 20, "beta": 20}
    assert not set(validation) & set(texts)


def test_all_exhausted_repeats_the_smaller_share_and_max_train_samples_counts_what_is_kept(two_sources):
    raw = mixed(two_sources, 0, "--mixture_stopping_strategy", "all_exhausted", "--validation_split_percentage", "0")
    texts = raw["train"]["text"]
    assert {t for t in texts if t.startswith("beta")} == {f"beta document {i}" for i in range(N_ROWS)}
    assert len(texts) > 3 * N_ROWS and list(shares(raw).values()) == pytest.approx([0.8, 0.2], abs=0.03)
    assert "validation" not in raw
    raw = mixed(two_sources, 0, "--max_train_samples", "100")
    assert sum(f["rows"] for f in mixture_results(raw)["mixture"].values()) == len(raw["train"]) == 100


def test_streaming_mixture_counts_the_rows_drawn(two_sources):
    raw = mixed(two_sources, 1, "--streaming", "true", "--max_eval_samples", "30")
    figures = mixture_results(raw)
    assert all(f["rows"] is None for f in figures["mixture"].values()), "nothing drawn yet"
    assert figures["mixture_counted"].startswith("not counted")
    first = [row["text"] for row in itertools.islice(raw["train"], 100)]
    assert sum(f["rows"] for f in mixture_results(raw)["mixture"].values()) == 100, "rows drawn, no more"
    texts = [row["text"] for row in raw["train"]]  # a second pass, to the end: every row drawn is counted
    assert texts[:100] == first, "each pass over the stream gives the same order"
    figures = mixture_results(raw)
    assert "stream" in figures["mixture_counted"]
    drawn = Counter(t.split()[0] for t in first + texts)
    assert [f["rows"] for f in figures["mixture"].values()] == [drawn["alpha"], drawn["beta"]]
    assert list(shares(raw).values()) == pytest.approx([0.8, 0.2], abs=0.05)
    again, other = (mixed(two_sources, seed, "--streaming", "true", "--max_eval_samples", "30") for seed in (1, 2))
    assert [row["text"] for row in itertools.islice(again["train"], 50)] == first[:50], "same seed, same order"
    assert [row["text"] for row in itertools.islice(other["train"], 50)] != first[:50], "another seed, another order"
    # validation: the first rows of each source held out (max_eval_samples of each), mixed, then truncated
    validation = [row["text"] for row in raw["validation"]]
    assert len(validation) == 30 and {t.split()[0] for t in validation} == {"alpha", "beta"}
    assert not set(validation) & set(texts)


def test_sft_formats_mix_into_messages(tmp_path):
    """An Alpaca file with other column names and a chat file mix: both become ``messages`` first."""
    from hfrecipes.chat import to_messages

    alpaca, chats = tmp_path / "alpaca.jsonl", tmp_path / "chats.jsonl"
    alpaca.write_text("".join(json.dumps({"q": f"question {i}", "a": f"answer {i}"}) + "\n" for i in range(40)))
    turns = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"}]
    chats.write_text("".join(json.dumps({"messages": turns, "id": i}) + "\n" for i in range(40)))
    sources = [
        {"data_files": [str(alpaca)], "columns": {"q": "instruction", "a": "output"}},
        {"data_files": [str(chats)], "weight": 3},
    ]
    args = parse_config([DataArguments], ["--dataset_mixture", json.dumps(sources)])[0]
    raw = load_datasets(args, 0, prepare=to_messages)
    assert raw["train"].column_names == ["messages"]
    figures = mixture_results(raw)["mixture"]
    assert [f["weight"] for f in figures.values()] == [0.25, 0.75], "weights are scaled to sum to 1"
    first = raw["train"][0]["messages"]
    assert first[0]["role"] == "user" and first[-1]["role"] == "assistant"


def test_yaml_mixture_and_a_json_override_on_the_command_line(tmp_path, two_sources):
    pretrain = load_recipe("pretrain")
    config = tmp_path / "mix.yaml"
    config.write_text(yaml.safe_dump({"dataset_mixture": two_sources, "mixture_stopping_strategy": "all_exhausted"}))
    data_args = parse_config(pretrain.CONFIG_CLASSES, ["--config", str(config)])[0]
    assert [s.weight for s in data_args.dataset_mixture] == [0.8, 0.2]
    assert data_args.dataset_mixture[1].columns == {"body": "text"}
    override = json.dumps([{"path": "builtin:python-docs", "weight": 2}])
    data_args = parse_config(pretrain.CONFIG_CLASSES, ["--config", str(config), "--dataset_mixture", override])[0]
    assert [(s.path, s.weight) for s in data_args.dataset_mixture] == [("builtin:python-docs", 2.0)]
    assert data_args.mixture_stopping_strategy == "all_exhausted"


@pytest.mark.parametrize(
    "mixture, flags, message",
    [
        (
            [{"path": "builtin:python-docs", "wieght": 1}],
            [],
            "source 1: unknown key 'wieght' (did you mean 'weight'?)",
        ),
        (
            [{"path": "builtin:python-docs", "weight": -1}],
            [],
            "source 1: weight is -1; it must be a finite number > 0",
        ),
        ('[{"path": "builtin:python-docs", "weight": NaN}]', [], "weight is nan; it must be a finite number > 0"),
        ([{"path": "builtin:python-docs", "weight": True}], [], "weight is True; give a number > 0"),
        ([], [], "--dataset_mixture is an empty list; give at least one object"),
        ("{broken", [], "--dataset_mixture is '{broken'; give a JSON list of objects"),
        ("[{broken", [], "--dataset_mixture is not valid JSON"),
        ([{"weight": 1}], [], "source 1 has neither path nor data_files; give one"),
        ([{"path": "builtin:python-docs", "data_files": "x.txt"}], [], "has both path and data_files"),
        ([{"path": "builtin:python-docs", "columns": "text"}], [], "columns is 'text'; give a list of column names"),
        ([{"data_files": "no-such-*.jsonl"}], [], "source 1: no file matches 'no-such-*.jsonl'"),
        ([{"path": "builtin:python-docs"}], ["--train_file", "x.txt"], "give either --train_file or dataset_mixture"),
        ([{"path": "builtin:python-docs"}], ["--dataset_name", "owner/x"], "give either --dataset_name or dataset_"),
        ([{"path": "builtin:python-docs"}], ["--dataset_config", "en"], "give each source its name"),
    ],
)
def test_bad_mixtures_are_one_line_errors(mixture, flags, message, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "x.txt").write_text("some text\n")
    value = mixture if isinstance(mixture, str) else json.dumps(mixture)
    with pytest.raises(UserError) as err:
        parse_config([DataArguments], ["--dataset_mixture", value, *flags])
    assert message in str(err.value) and "\n" not in str(err.value)


def test_a_source_missing_a_column_names_it_and_the_fix(two_sources):
    two_sources[1]["columns"] = {"content": "text"}
    with pytest.raises(UserError, match=r"source 2 \(.*beta.jsonl\): it has no column 'content' \(columns: body\)"):
        mixed(two_sources)
    del two_sources[1]["columns"]
    with pytest.raises(UserError, match=r"no column 'text' \(columns: body\); map a column to it .*\{body: text\}"):
        mixed(two_sources)


# fmt: off
TINY = ["--n_layer", "1", "--n_head", "2", "--n_embd", "32", "--block_size", "32", "--max_train_samples", "300",
        "--per_device_train_batch_size", "8", "--per_device_eval_batch_size", "16", "--max_eval_samples", "32",
        "--max_steps", "4", "--max_train_minutes", "0", "--save_strategy", "no", "--report_to", "none"]
# fmt: on


def test_pretrain_on_a_mixture_records_the_shares(tiny_tokenizer, tmp_path):
    """builtin:python-docs 0.7 + a local file of another column name 0.3, from YAML: results.json has the figures."""
    extra = tmp_path / "extra.jsonl"
    extra.write_text("".join(json.dumps({"body": f"Extra text number {i}, on its own."}) + "\n" for i in range(400)))
    config = tmp_path / "mixture.yaml"
    sources = [
        {"path": "builtin:python-docs", "weight": 0.7},
        {"data_files": [str(extra)], "weight": 0.3, "columns": {"body": "text"}},
    ]
    config.write_text(yaml.safe_dump({"dataset_mixture": sources, "tokenizer_name": str(tiny_tokenizer)}))
    out = tmp_path / "out"
    load_recipe("pretrain").main(["--config", str(config), *TINY, "--output_dir", str(out)])
    results = json.loads((out / "results.json").read_text())
    mixture = [results["mixture"][name] for name in ("builtin:python-docs", str(extra))]  # keys: the sources
    assert len(results["mixture"]) == 2
    assert sum(f["rows"] for f in mixture) == 300, "max_train_samples of the mixed rows"
    assert [f["weight"] for f in mixture] == [0.7, 0.3]
    assert [f["share"] for f in mixture] == pytest.approx([0.7, 0.3], abs=0.1)
    assert results["mixture_counted"] == "rows of the mixed training set"
    assert results["train_steps"] == 4 and results["eval_loss"] > 0
    saved = yaml.safe_load((out / "run_config.yaml").read_text())  # the resolved config reads back
    data_args = parse_config(load_recipe("pretrain").CONFIG_CLASSES, ["--config", str(out / "run_config.yaml")])[0]
    assert saved["dataset_mixture"][1]["columns"] == {"body": "text"}
    assert [s.weight for s in data_args.dataset_mixture] == [0.7, 0.3]


def test_sft_on_a_mixture_records_the_shares(tiny_lm, tmp_path):
    """builtin:python-docs chats + an Alpaca file under other column names, given as JSON on the command line."""
    alpaca = tmp_path / "alpaca.jsonl"
    rows = [{"question": f"What is {i} plus {i}?", "answer": f"It is {2 * i}."} for i in range(100)]
    alpaca.write_text("".join(json.dumps(r) + "\n" for r in rows))
    sources = [
        {"path": "builtin:python-docs", "weight": 0.5},
        {"data_files": [str(alpaca)], "weight": 0.5, "columns": {"question": "instruction", "answer": "output"}},
    ]
    out = tmp_path / "sft"
    # fmt: off
    load_recipe("sft").main(["--model_name_or_path", str(tiny_lm), "--dataset_mixture", json.dumps(sources),
                             "--max_train_samples", "32", "--max_eval_samples", "16", "--num_train_epochs", "1",
                             "--per_device_train_batch_size", "8", "--per_device_eval_batch_size", "16",
                             "--max_length", "128", "--report_to", "none", "--output_dir", str(out)])
    # fmt: on
    results = json.loads((out / "results.json").read_text())
    mixture = [results["mixture"][name] for name in ("builtin:python-docs", str(alpaca))]
    assert len(results["mixture"]) == 2 and sum(f["rows"] for f in mixture) == 32
    assert all(0.2 < f["share"] < 0.8 for f in mixture)
    assert results["train_steps"] == 4 and results["eval_loss"] > 0
