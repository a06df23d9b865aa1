"""Bad inputs and the one-line error each must give: the table `test_bad_inputs.py` checks and
`benchmarks/bad_inputs_table.py` prints.

A case is run in a fresh folder holding its input files and an output folder `out/` with a sentinel file in it.
Placeholders in the arguments: `{tmp}` (that folder), `{out}` (the output folder), `{lm}` (a tiny model folder from
recipes/pretrain.py, for the recipes that fine-tune one).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from conftest import ROOT, load_recipe

SENTINEL = "sentinel.txt"
# Progress bars (datasets, weight loading) also go to stderr; the tests check that the error is its only line.
QUIET = {"HF_DATASETS_DISABLE_PROGRESS_BARS": "1", "HF_HUB_DISABLE_PROGRESS_BARS": "1"}


@dataclass(frozen=True)
class Case:
    id: str
    recipe: str
    input: str  # what is wrong, in words (the table's first column)
    args: tuple[str, ...]
    message: str  # a fragment the one-line error must hold
    files: dict[str, str | bytes] = field(default_factory=dict)  # path under {tmp} -> content
    setup: Callable[[Path, Path | None], None] | None = None  # (tmp, lm) -> None, for inputs made from the model
    env: dict[str, str | None] = field(default_factory=dict)  # None removes a variable
    subprocess: bool = False  # run as `python recipes/X.py` (always for the table); in-process otherwise in tests
    needs_lm: bool = False


CSV_TRAIN = "text,label\nnice film,positive\nbad film,negative\ngood,positive\nawful,negative\n"
CSV_DEV = "text,label\nfine,positive\nmeh,neutral\n"
STSB_HEAD = "index\tgenre\tfilename\tyear\told_index\tsource1\tsource2\tsentence1\tsentence2\tscore\n"
STSB_TRAIN = STSB_HEAD + "".join(
    f"{i}\tmain\tMSRvid\t2012\t{i}\tnone\tnone\ta man {i}\ta man\t{i}.0\n" for i in range(4)
)


def _bigger_tokenizer(tmp: Path, lm: Path | None) -> None:
    """The model folder with a tokenizer that has 200 tokens more than the model's embedding."""
    from transformers import AutoTokenizer

    shutil.copytree(lm, tmp / "model")
    tokenizer = AutoTokenizer.from_pretrained(tmp / "model")
    tokenizer.add_tokens([f"extra{i}" for i in range(200)])
    tokenizer.save_pretrained(tmp / "model")


def _pickle_weights(tmp: Path, lm: Path | None) -> None:
    """The model folder with its weights as a pickle (pytorch_model.bin) instead of safetensors."""
    import torch
    from safetensors.torch import load_file

    shutil.copytree(lm, tmp / "model")
    torch.save(load_file(tmp / "model" / "model.safetensors"), tmp / "model" / "pytorch_model.bin")
    (tmp / "model" / "model.safetensors").unlink()


def _broken_saved_folder(tmp: Path, lm: Path | None) -> None:
    """A save_to_disk folder whose Arrow file was cut short (a copy that stopped halfway)."""
    from datasets import Dataset

    Dataset.from_dict({"text": [f"saved document {i}" for i in range(200)]}).save_to_disk(str(tmp / "saved"))
    arrow = next((tmp / "saved").glob("*.arrow"))
    arrow.write_bytes(arrow.read_bytes()[: arrow.stat().st_size // 2])


def _jsonl(rows: list) -> str:
    return "".join(json.dumps(row) + "\n" for row in rows)


DOCS = [{"text": f"document number {i}"} for i in range(40)]
CHAT = {"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"}]}
OUT = ("--output_dir", "{out}")
CASES = [
    # --- config files and flags
    Case(
        "malformed-yaml",
        "train_tokenizer",
        "malformed YAML config",
        ("--config", "{tmp}/bad.yaml", *OUT),
        "malformed YAML in",
        files={"bad.yaml": "vocab_size: [300\nmin_frequency: 2\n"},
        subprocess=True,
    ),
    Case(
        "unknown-key",
        "train_tokenizer",
        "unknown key in the YAML config",
        ("--config", "{tmp}/typo.yaml", *OUT),
        "unknown key 'vocab_sise'",
        files={"typo.yaml": "vocab_sise: 300\n"},
        subprocess=True,
    ),
    Case(
        "wrong-type-yaml",
        "train_tokenizer",
        "wrong type in the YAML config",
        ("--config", "{tmp}/type.yaml", *OUT),
        "'vocab_size' has value 'lots', which is not a valid int",
        files={"type.yaml": "vocab_size: lots\n"},
        subprocess=True,
    ),
    Case(
        "wrong-type-flag",
        "train_tokenizer",
        "wrong type on the command line",
        ("--vocab_size", "lots", *OUT),
        "invalid int value: 'lots'; give an integer",
        subprocess=True,
    ),
    Case(
        "unknown-flag",
        "pretrain",
        "misspelled flag",
        ("--learning_rat", "0.1", *OUT),
        "unknown option '--learning_rat' (did you mean 'learning_rate'?)",
    ),
    Case(
        "config-not-found",
        "train_tokenizer",
        "`--config` file that does not exist",
        ("--config", "{tmp}/nope.yaml", *OUT),
        "config file not found",
        subprocess=True,
    ),
    Case(
        "empty-yaml",
        "train_tokenizer",
        "empty YAML config file",
        ("--config", "{tmp}/empty.yaml", *OUT),
        "empty.yaml is empty; write field: value lines in it, or leave out --config",
        files={"empty.yaml": "# nothing here yet\n"},
    ),
    Case(
        "yaml-not-a-mapping",
        "pretrain",
        "YAML config whose top level is a list",
        ("--config", "{tmp}/list.yaml", *OUT),
        "list.yaml must be a YAML mapping of field: value, not a list",
        files={"list.yaml": "- learning_rate: 0.1\n- max_steps: 10\n"},
    ),
    Case(
        "config-is-a-folder",
        "sft",
        "`--config=` naming a folder",
        ("--config={tmp}/configs", *OUT),
        "/configs is a folder; give a YAML file (e.g. ",
        files={"configs/lora.yaml": "lora_r: 8\n"},
    ),
    Case(
        "output-dir-not-writable",
        "pretrain",
        "`--output_dir` that cannot be made (a path through a file)",
        ("--output_dir", f"{{out}}/{SENTINEL}/run"),
        "(Not a directory); pick another --output_dir",
    ),
    # --- data
    Case(
        "missing-data-file",
        "train_tokenizer",
        "missing data file",
        ("--train_file", "{tmp}/nope.txt", *OUT),
        "no file matches",
        subprocess=True,
    ),
    Case(
        "empty-data-file",
        "train_tokenizer",
        "empty data file",
        ("--train_file", "{tmp}/empty.txt", *OUT),
        "is empty; give a file with data in it",
        files={"empty.txt": ""},
        subprocess=True,
    ),
    Case(
        "missing-text-column",
        "train_tokenizer",
        "missing text column",
        ("--train_file", "{tmp}/docs.jsonl", *OUT),
        "has no column 'text' (columns: body); set --text_column",
        files={"docs.jsonl": "".join(json.dumps({"body": f"document {i}"}) + "\n" for i in range(40))},
        subprocess=True,
    ),
    Case(
        "non-utf8",
        "train_tokenizer",
        "non-UTF-8 bytes in a text file",
        ("--train_file", "{tmp}/latin1.txt", *OUT),
        "latin1.txt is not valid UTF-8 (line 3, byte 15: invalid continuation byte); re-encode it as UTF-8",
        files={"latin1.txt": "first line\n\ncaf\xe9 au lait\n".encode("latin-1")},
        subprocess=True,
    ),
    Case(
        "missing-label-column",
        "classify",
        "missing label column",
        ("--model_name_or_path", "{lm}", "--train_file", "{tmp}/train.csv", "--label_column", "stars", *OUT),
        "the train data has no column 'stars' (columns: text, label); set --label_column",
        files={"train.csv": CSV_TRAIN},
        needs_lm=True,
    ),
    Case(
        "label-out-of-range",
        "classify",
        "label out of range (GLUE SST-2 file with label 3)",
        ("--task_name", "sst2", "--model_name_or_path", "{lm}", "--train_file", "{tmp}/train.tsv", *OUT),
        "label 3 is out of range for SST-2, whose labels are 0-1",
        files={"train.tsv": "sentence\tlabel\nnice film\t1\nbad film\t0\ngood\t3\n"},
        needs_lm=True,
    ),
    Case(
        "unseen-label",
        "classify",
        "validation label never seen in training",
        (
            "--model_name_or_path",
            "{lm}",
            "--train_file",
            "{tmp}/train.csv",
            "--validation_file",
            "{tmp}/dev.csv",
            *OUT,
        ),
        "the validation data has labels that train does not: neutral",
        files={"train.csv": CSV_TRAIN, "dev.csv": CSV_DEV},
        subprocess=True,
        needs_lm=True,
    ),
    Case(
        "label-smoothing-regression",
        "classify",
        "label smoothing on a regression task (STS-B)",
        (
            "--task_name",
            "stsb",
            "--model_name_or_path",
            "{lm}",
            "--train_file",
            "{tmp}/train.tsv",
            "--label_smoothing_factor",
            "0.1",
            *OUT,
        ),  # fmt: skip
        "--label_smoothing_factor 0.1 applies to classes, but stsb is a regression task (float labels); set it to 0",
        files={"train.tsv": STSB_TRAIN},
        needs_lm=True,
    ),
    Case(
        "best-model-metric-unknown",
        "classify",
        "`metric_for_best_model` the task does not report (accuracy on STS-B)",
        (
            "--task_name",
            "stsb",
            "--model_name_or_path",
            "{lm}",
            "--train_file",
            "{tmp}/train.tsv",
            "--load_best_model_at_end",
            "true",
            "--save_strategy",
            "epoch",
            "--metric_for_best_model",
            "accuracy",
            *OUT,
        ),  # fmt: skip
        "--metric_for_best_model 'accuracy' is not a metric of stsb; choose one of loss, pearson, spearmanr",
        files={"train.tsv": STSB_TRAIN},
        needs_lm=True,
    ),
    Case(
        "early-stopping-without-metric",
        "classify",
        "early stopping with nothing to compare (no load_best_model_at_end, no metric_for_best_model)",
        ("--model_name_or_path", "{lm}", "--early_stopping_patience", "2", *OUT),
        "--early_stopping_patience needs a metric to compare: set --load_best_model_at_end true",
        needs_lm=True,
    ),
    Case(
        "non-utf8-glue",
        "classify",
        "non-UTF-8 bytes in a GLUE TSV",
        ("--task_name", "sst2", "--model_name_or_path", "{lm}", "--train_file", "{tmp}/train.tsv", *OUT),
        "train.tsv is not valid UTF-8 (line 2, byte 18: invalid continuation byte); re-encode it as UTF-8",
        files={"train.tsv": "sentence\tlabel\ncaf\xe9\t1\n".encode("latin-1")},
        needs_lm=True,
    ),
    Case(
        "sft-unknown-format",
        "sft",
        "SFT data in no known format",
        ("--model_name_or_path", "{lm}", "--train_file", "{tmp}/d.jsonl", *OUT),
        "the train data has columns text, label; SFT needs 'messages' (chat), 'prompt' + 'completion'",
        files={"d.jsonl": "".join(json.dumps({"text": f"line {i}", "label": i}) + "\n" for i in range(40))},
        needs_lm=True,
    ),
    # --- data files, through one error boundary (hfrecipes.datafiles): FILE line N: what is wrong; fix
    Case(
        "broken-jsonl-line",
        "train_tokenizer",
        "JSONL file with a broken line",
        ("--train_file", "{tmp}/d.jsonl", *OUT),
        "d.jsonl line 3: not valid JSON (Expecting value at column 10); fix or remove that line",
        files={"d.jsonl": _jsonl(DOCS[:2]) + '{"text": broken\n' + _jsonl(DOCS[2:])},
    ),
    Case(
        "jsonl-line-is-a-list",
        "train_tokenizer",
        "JSONL line that is a list, not an object",
        ("--train_file", "{tmp}/d.jsonl", *OUT),
        "d.jsonl line 2: a list, not a JSON object; write one object per line",
        files={"d.jsonl": _jsonl([DOCS[0], ["document", "one"], *DOCS[1:]])},
    ),
    Case(
        "json-object-not-list",
        "train_tokenizer",
        ".json file holding one object where a list of rows was expected",
        ("--train_file", "{tmp}/d.json", *OUT),
        "d.json line 1: a JSON object where a list of rows was expected (its rows look like the list under 'data')",
        files={"d.json": json.dumps({"version": 1, "data": DOCS}, indent=2)},
    ),
    Case(
        "ragged-csv-row",
        "train_tokenizer",
        "CSV row with more fields than the header",
        ("--train_file", "{tmp}/d.csv", *OUT),
        "d.csv line 4 has 3 fields, the header has 2; fix or remove that row, or quote a field that holds a comma",
        files={"d.csv": "text,source\nfirst doc,a\nsecond doc,b\nthird, with a comma,c\nfourth doc,d\n"},
    ),
    Case(
        "ragged-tsv-row",
        "train_tokenizer",
        "TSV row with more fields than the header",
        ("--train_file", "{tmp}/d.tsv", *OUT),
        "d.tsv line 3 has 3 fields, the header has 2; fix or remove that row",
        files={"d.tsv": "text\tsource\nfirst doc\ta\nsecond\tdoc\tb\n"},
    ),
    Case(
        "ragged-glue-tsv-row",
        "classify",
        "GLUE SST-2 TSV row with more fields than the header",
        ("--task_name", "sst2", "--model_name_or_path", "{lm}", "--train_file", "{tmp}/train.tsv", *OUT),
        "train.tsv line 3 has 3 fields, the header has 2; fix or remove that row",
        files={"train.tsv": "sentence\tlabel\nnice film\t1\nbad film\t0\t0\ngood\t1\n"},
        needs_lm=True,
    ),
    Case(
        "header-only-csv",
        "train_tokenizer",
        "CSV file with a header and no rows",
        ("--train_file", "{tmp}/d.csv", *OUT),
        "d.csv has a header (text,source) but no rows; add rows below it",
        files={"d.csv": "text,source\n"},
    ),
    Case(
        "not-parquet",
        "train_tokenizer",
        ".parquet file that is not parquet",
        ("--train_file", "{tmp}/d.parquet", *OUT),
        "d.parquet is not a parquet file (it does not begin with the magic bytes PAR1)",
        files={"d.parquet": "text\nthis is a CSV file under another name\n"},
    ),
    Case(
        "binary-txt",
        "train_tokenizer",
        "binary file with a .txt extension",
        ("--train_file", "{tmp}/image.txt", *OUT),
        "image.txt is binary data, not text (a NUL byte at byte 8); give a UTF-8 text file",
        files={"image.txt": b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x10"},
    ),
    Case(
        "train-file-is-a-folder",
        "train_tokenizer",
        "`--train_file` naming a folder",
        ("--train_file", "{tmp}/docs", *OUT),
        "docs is a folder, not a data file; name the files in it, e.g. --train_file '",
        files={"docs/a.txt": "first document\n", "docs/b.txt": "second document\n"},
    ),
    Case(
        "broken-saved-folder",
        "train_tokenizer",
        "`save_to_disk` folder with a cut-short Arrow file (`--dataset_name DIR`)",
        ("--dataset_name", "{tmp}/saved", *OUT),
        "data-00000-of-00001.arrow is not a readable Arrow file (",
        setup=_broken_saved_folder,
    ),
    Case(
        "sft-turn-without-role",
        "sft",
        "SFT `messages` with a turn that has no role",
        ("--model_name_or_path", "{lm}", "--train_file", "{tmp}/d.jsonl", *OUT),
        "the train data row 3: turn 2 has no 'role'",
        files={"d.jsonl": _jsonl([CHAT, CHAT, {"messages": [CHAT["messages"][0], {"content": "?"}]}, *[CHAT] * 37])},
        needs_lm=True,
    ),
    Case(
        # Fails lazily, while the stream is read: train_tokenizer reads it in hfrecipes.data.iter_text_batches, whose
        # boundary reports it; inside the Trainer (pretrain, sft) config.cli_main does, with reader_error_message.
        "streaming-broken-jsonl-line",
        "train_tokenizer",
        "streamed JSONL file with a broken line (`--streaming true`)",
        ("--train_file", "{tmp}/d.jsonl", "--streaming", "true", "--max_eval_samples", "5", *OUT),
        "d.jsonl line 30: not valid JSON (Expecting value at column 10); fix or remove that line",
        files={"d.jsonl": _jsonl(DOCS[:29]) + '{"text": broken\n' + _jsonl(DOCS[29:])},
    ),
    Case(
        "missing-dataset-folder",
        "train_tokenizer",
        "`--dataset_name` naming a folder that does not exist",
        ("--dataset_name", "{tmp}/no-such-folder", *OUT),
        "no-such-folder; give a save_to_disk folder, data files with --train_file, or a Hub dataset id (owner/name)",
    ),
    Case(
        "unknown-glue-task",
        "classify",
        "unknown GLUE task",
        ("--task_name", "sst3", *OUT),
        "unknown GLUE task 'sst3'; choose one of cola, sst2, mrpc, qqp, stsb, mnli, qnli, rte, wnli",
    ),
    # --- dataset mixtures (dataset_mixture): a list of sources, checked with the config, columns when loaded
    Case(
        "mixture-unknown-key",
        "train_tokenizer",
        "`dataset_mixture` source with a misspelled key",
        ("--dataset_mixture", '[{{"path": "builtin:python-docs", "wieght": 0.5}}]', *OUT),
        "dataset_mixture source 1: unknown key 'wieght' (did you mean 'weight'?)",
    ),
    Case(
        "mixture-weight-nan",
        "train_tokenizer",
        "`dataset_mixture` source weighted nan (YAML)",
        ("--config", "{tmp}/mix.yaml", *OUT),
        "dataset_mixture source 1: weight is nan; it must be a finite number > 0",
        files={"mix.yaml": "dataset_mixture:\n  - {path: builtin:python-docs, weight: .nan}\n"},
    ),
    Case(
        "mixture-weight-zero",
        "train_tokenizer",
        "`dataset_mixture` source weighted 0",
        ("--dataset_mixture", '[{{"path": "builtin:python-docs", "weight": 0}}]', *OUT),
        "dataset_mixture source 1: weight is 0; it must be a finite number > 0",
    ),
    Case(
        "mixture-no-sources",
        "train_tokenizer",
        "`dataset_mixture` with no sources",
        ("--dataset_mixture", "[]", *OUT),
        "--dataset_mixture is an empty list; give at least one object, or leave the key out",
    ),
    Case(
        "mixture-and-train-file",
        "pretrain",
        "`dataset_mixture` and `--train_file` together",
        ("--train_file", "{tmp}/d.jsonl", "--dataset_mixture", '[{{"path": "builtin:python-docs"}}]', *OUT),
        "give either --train_file or dataset_mixture, not both",
        files={"d.jsonl": _jsonl(DOCS)},
    ),
    Case(
        "mixture-missing-column",
        "train_tokenizer",
        "`dataset_mixture` source whose `columns` names a column it does not have",
        ("--dataset_mixture", '[{{"data_files": ["{tmp}/d.jsonl"], "columns": {{"body": "text"}}}}]', *OUT),
        "d.jsonl): it has no column 'body' (columns: content); fix its columns to name columns it has",
        files={"d.jsonl": _jsonl([{"content": d["text"]} for d in DOCS])},
    ),
    Case(
        "mixture-no-text-column",
        "train_tokenizer",
        "`dataset_mixture` source without the text column",
        ("--dataset_mixture", '[{{"data_files": ["{tmp}/d.jsonl"]}}]', *OUT),
        "no column 'text' (columns: content); map a column to it with the source's columns (e.g. columns: {content: ",
        files={"d.jsonl": _jsonl([{"content": d["text"]} for d in DOCS])},
    ),
    # --- model shapes, tokenizer and model
    Case(
        "vocab-too-small",
        "train_tokenizer",
        "vocab_size below the byte alphabet plus specials",
        ("--vocab_size", "100", *OUT),
        "vocab_size 100 is below the byte alphabet plus special tokens; use >= 260",
        subprocess=True,
    ),
    Case(
        "n_embd-n_head",
        "pretrain",
        "`n_embd` not divisible by `n_head`",
        ("--n_embd", "30", "--n_head", "4", *OUT),
        "n_embd (30) must be divisible by n_head (4); e.g. n_embd=128",
    ),
    Case(
        "block-size-n-positions",
        "pretrain",
        "block size above `n_positions`",
        ("--block_size", "256", "--n_positions", "128", *OUT),
        "block_size (256) exceeds n_positions (128); lower block_size or raise n_positions",
    ),
    Case(
        "missing-tokenizer",
        "pretrain",
        "tokenizer folder that does not exist",
        ("--tokenizer_name", "{tmp}/no-tokenizer", *OUT),
        "no tokenizer folder at",
    ),
    Case(
        "missing-model",
        "classify",
        "`--model_name_or_path` folder that does not exist",
        ("--model_name_or_path", "{tmp}/no-model", *OUT),
        "no model folder at",
    ),
    Case(
        "vocab-mismatch",
        "classify",
        "tokenizer bigger than the model's embedding",
        ("--model_name_or_path", "{tmp}/model", "--train_file", "{tmp}/train.csv", *OUT),
        "tokens but the model's embedding has 512; use the tokenizer the model was trained with",
        files={"train.csv": CSV_TRAIN * 10},
        setup=_bigger_tokenizer,
        needs_lm=True,
    ),
    Case(
        "pickle-weights",
        "classify",
        "model folder with pickle weights only (`pytorch_model.bin`)",
        ("--model_name_or_path", "{tmp}/model", "--train_file", "{tmp}/train.csv", *OUT),
        "holds its weights only as a pickle (pytorch_model.bin), which hfrecipes does not load",
        files={"train.csv": CSV_TRAIN * 10},
        setup=_pickle_weights,
        needs_lm=True,
    ),
    Case(
        "qlora-without-peft",
        "sft",
        "4-bit loading without LoRA",
        ("--load_in_4bit", "--model_name_or_path", "{tmp}/no-model", *OUT),
        "--load_in_4bit trains LoRA adapters on a quantized model; add --use_peft",
    ),
    # --- outputs and the Hub
    Case(
        "finished-run",
        "train_tokenizer",
        "output folder holding a finished run",
        OUT,
        "already holds a finished run (results.json); pick another --output_dir or pass --overwrite",
        files={"out/results.json": '{"vocab_size": 300}\n'},
        subprocess=True,
    ),
    Case(
        "output-is-a-file",
        "train_tokenizer",
        "`--output_dir` naming a file",
        ("--output_dir", f"{{out}}/{SENTINEL}"),
        "(File exists); pick another --output_dir",
        subprocess=True,
    ),
    Case(
        "push-without-token",
        "train_tokenizer",
        "`--push_to_hub` without a token",
        ("--push_to_hub", *OUT),
        "no Hugging Face token found: set HF_TOKEN or run `hf auth login`",
        env={"HF_HUB_OFFLINE": "0", "HF_TOKEN": None, "HF_HOME": "{tmp}/.hf_home"},
        subprocess=True,
    ),
    Case(
        "hub-token-flag",
        "pretrain",
        "`--hub_token` on the command line",
        ("--hub_token", "hf_secret", *OUT),
        "--hub_token is not accepted: it would be saved with the run; set HF_TOKEN",
    ),
]


@dataclass
class Outcome:
    returncode: int
    stderr: str


def prepare(case: Case, tmp: Path, lm: Path | None) -> list[str]:
    """Writes the case's files and the sentinel; returns its arguments with the placeholders filled in."""
    (tmp / "out").mkdir(parents=True, exist_ok=True)
    (tmp / "out" / SENTINEL).write_text("written before the run\n")
    for name, content in case.files.items():
        path = tmp / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    if case.setup is not None:
        case.setup(tmp, lm)
    return [a.format(tmp=tmp, out=tmp / "out", lm=lm) for a in case.args]


def run_subprocess(case: Case, argv: list[str], tmp: Path) -> Outcome:
    """``python recipes/<recipe>.py ARGS``, as a user runs it."""
    env = {**os.environ, **QUIET, "PYTHONPATH": str(ROOT / "src")}
    for key, value in case.env.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value.format(tmp=tmp)
    cmd = [sys.executable, str(ROOT / "recipes" / f"{case.recipe}.py"), *argv]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=ROOT, env=env)
    return Outcome(proc.returncode, proc.stderr)


def run_in_process(case: Case, argv: list[str]) -> Outcome:
    """The recipe's ``main`` through ``cli_main``, as its ``__main__`` block runs it, with stderr captured."""
    import datasets
    from transformers.utils import logging as transformers_logging

    from hfrecipes.config import cli_main

    main = load_recipe(case.recipe).main
    err = io.StringIO()
    code = 0
    datasets.disable_progress_bars()
    transformers_logging.disable_progress_bar()
    with contextlib.redirect_stderr(err):
        try:
            cli_main(lambda: main(argv))
        except SystemExit as exit_:
            code = exit_.code
        finally:
            datasets.enable_progress_bars()
            transformers_logging.enable_progress_bar()
    return Outcome(code, err.getvalue())


def run(case: Case, argv: list[str], tmp: Path, in_subprocess: bool | None = None) -> Outcome:
    """Runs a prepared case, in a subprocess if the case (or ``in_subprocess``) says so."""
    if case.subprocess if in_subprocess is None else in_subprocess:
        return run_subprocess(case, argv, tmp)
    return run_in_process(case, argv)


def snapshot(folder: Path) -> dict[str, tuple[bytes, int]]:
    """Content and mtime of every file under ``folder`` whose path has no hidden part (the run lock is hidden)."""
    files = (p for p in sorted(folder.rglob("*")) if p.is_file())
    return {
        str(p.relative_to(folder)): (p.read_bytes(), p.stat().st_mtime_ns)
        for p in files
        if not any(part.startswith(".") for part in p.relative_to(folder).parts)
    }
