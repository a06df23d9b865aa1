"""The nine GLUE tasks: columns, labels and metrics, read from the Hub or from the classic ``glue_data`` TSV folders.

Every source yields the Hub's layout (``nyu-mll/glue``): the Hub's text column names, ``label`` as a ``ClassLabel``
with the Hub's names (a float for STS-B) and ``idx``; splits ``train``, ``validation`` and ``test`` (MNLI adds
``validation_mismatched`` and ``test_mismatched``). Test splits carry no labels.
"""

from __future__ import annotations

import csv
import logging
import sys
from dataclasses import dataclass, field
from pathlib import Path

from . import datafiles
from .errors import UserError
from .sources import load_hub_dataset

logger = logging.getLogger(__name__)

GLUE_HUB_ID = "nyu-mll/glue"


@dataclass(frozen=True)
class GlueTask:
    name: str  # Hub configuration name, also the metric configuration
    dirname: str  # folder in glue_data/ and the name of the submission file
    text_columns: tuple[str, ...]  # Hub column names: one text or a pair
    label_names: tuple[str, ...] | None  # index = label id; None for regression (STS-B)
    metrics: tuple[str, ...]
    tsv_columns: tuple[str, ...]  # TSV header names of the text columns, in the same order
    tsv_label: str
    tsv_names: tuple[str, ...] | None = None  # column names of labelled TSVs that have no header (CoLA)
    label_as_name: bool = False  # TSVs and submissions spell labels as names ("entailment"), not ids
    # internal split -> TSV file stem; internal split -> submission file stem
    dev_files: dict[str, str] = field(default_factory=lambda: {"validation": "dev"})
    test_files: dict[str, str] = field(default_factory=lambda: {"test": "test"})

    @property
    def is_regression(self) -> bool:
        return self.label_names is None

    def submission_name(self, split: str) -> str:
        return {"test": "MNLI-m", "test_mismatched": "MNLI-mm"}[split] if self.name == "mnli" else self.dirname


_PAIR = ("sentence1", "sentence2")
_NLI = ("entailment", "not_entailment")
GLUE_TASKS: dict[str, GlueTask] = {
    t.name: t
    for t in [
        GlueTask(
            "cola",
            "CoLA",
            ("sentence",),
            ("unacceptable", "acceptable"),
            ("matthews_correlation",),
            ("sentence",),
            "label",
            tsv_names=("source", "label", "original_mark", "sentence"),
        ),
        GlueTask("sst2", "SST-2", ("sentence",), ("negative", "positive"), ("accuracy",), ("sentence",), "label"),
        GlueTask(
            "mrpc",
            "MRPC",
            _PAIR,
            ("not_equivalent", "equivalent"),
            ("accuracy", "f1"),
            ("#1 String", "#2 String"),
            "Quality",
        ),
        GlueTask(
            "qqp",
            "QQP",
            ("question1", "question2"),
            ("not_duplicate", "duplicate"),
            ("accuracy", "f1"),
            ("question1", "question2"),
            "is_duplicate",
        ),
        GlueTask("stsb", "STS-B", _PAIR, None, ("pearson", "spearmanr"), _PAIR, "score"),
        GlueTask(
            "mnli",
            "MNLI",
            ("premise", "hypothesis"),
            ("entailment", "neutral", "contradiction"),
            ("accuracy",),
            _PAIR,
            "gold_label",
            label_as_name=True,
            dev_files={"validation": "dev_matched", "validation_mismatched": "dev_mismatched"},
            test_files={"test": "test_matched", "test_mismatched": "test_mismatched"},
        ),
        GlueTask(
            "qnli",
            "QNLI",
            ("question", "sentence"),
            _NLI,
            ("accuracy",),
            ("question", "sentence"),
            "label",
            label_as_name=True,
        ),
        GlueTask("rte", "RTE", _PAIR, _NLI, ("accuracy",), _PAIR, "label", label_as_name=True),
        GlueTask("wnli", "WNLI", _PAIR, ("not_entailment", "entailment"), ("accuracy",), _PAIR, "label"),
    ]
}


def get_task(name: str) -> GlueTask:
    """Looks a task up by Hub name or folder name, any case: ``sst2``, ``SST-2``, ``STS-B``, ``CoLA``."""
    key = name.lower().replace("-", "").replace("_", "")
    if key not in GLUE_TASKS:
        raise UserError(f"unknown GLUE task '{name}'; choose one of {', '.join(GLUE_TASKS)}")
    return GLUE_TASKS[key]


def features(task: GlueTask, labelled: bool = True):
    from datasets import ClassLabel, Features, Value

    cols = {c: Value("string") for c in task.text_columns}
    if labelled:
        cols["label"] = Value("float32") if task.is_regression else ClassLabel(names=list(task.label_names))
    cols["idx"] = Value("int64")
    return Features(cols)


def read_glue_tsv(path: str | Path, task: GlueTask):
    """One GLUE TSV as a ``Dataset`` in the Hub's layout; test files (no label column) come back unlabelled.

    GLUE TSVs are tab-separated with no quoting at all (sentences hold bare ``"``), so the csv module must not
    process quotes; MRPC starts with a UTF-8 BOM; CoLA's train and dev files have no header row.
    """
    from datasets import Dataset

    csv.field_size_limit(sys.maxsize)  # a few MNLI/QNLI rows exceed the default 128 KiB field limit
    path = Path(path)
    if not path.is_file():
        raise UserError(f"GLUE file not found: {path}")
    rows, lines = [], []  # the rows, and the line each starts on
    with datafiles.reading([path], quotechar=None):  # a file that is not UTF-8 text: one line naming it
        with open(path, encoding="utf-8-sig", newline="") as f:
            reader = csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE)
            start = 1
            for r in reader:
                if r:
                    rows.append(r)
                    lines.append(start)
                start = reader.line_num + 1
    if not rows:
        raise UserError(f"{path} is empty")
    if task.tsv_names and rows[0][0] != "index":
        header, body, body_lines, what = list(task.tsv_names), rows, lines, f"GLUE {task.dirname} rows have"
    else:
        header, body, body_lines, what = rows[0], rows[1:], lines[1:], "the header has"
    missing = [c for c in task.tsv_columns if c not in header]
    if missing:
        raise UserError(
            f"{path} does not look like GLUE {task.dirname}: no column '{missing[0]}' "
            f"(columns: {', '.join(header)}); check --task_name"
        )
    text_idx = [header.index(c) for c in task.tsv_columns]
    label_idx = header.index(task.tsv_label) if task.tsv_label in header else None
    id_idx = next((header.index(c) for c in ("index", "id") if c in header), None)
    ragged = next((i for i, r in enumerate(body) if len(r) != len(header)), None)
    if ragged is not None:
        raise UserError(datafiles.fields_message(path, body_lines[ragged], len(body[ragged]), len(header), what))
    data = {col: [r[i] for r in body] for col, i in zip(task.text_columns, text_idx, strict=True)}
    if label_idx is not None:
        data["label"] = [_label(r[label_idx], task, path, n) for r, n in zip(body, body_lines, strict=True)]
    if id_idx is not None:
        data["idx"] = [_index(r[id_idx], path, n) for r, n in zip(body, body_lines, strict=True)]
    else:
        data["idx"] = list(range(len(body)))
    return Dataset.from_dict(data, features=features(task, labelled=label_idx is not None))


def _index(value: str, path: Path, line: int) -> int:
    try:
        return int(value)
    except ValueError:
        raise UserError(f"{path} line {line}: index '{value}' is not an integer; fix that row") from None


def _label(value: str, task: GlueTask, path: Path, line: int):
    where = f"{path} line {line}"
    try:
        if task.is_regression:
            return float(value)
        label = task.label_names.index(value) if task.label_as_name else int(value)
    except ValueError:
        raise UserError(f"{where}: label '{value}' is not a {task.dirname} label; check --task_name") from None
    if not 0 <= label < len(task.label_names):
        raise UserError(
            f"{where}: label {label} is out of range for {task.dirname}, whose labels are "
            f"0-{len(task.label_names) - 1}"
            f" ({', '.join(task.label_names)}); fix the label or check --task_name"
        )
    return label


def glue_files(glue_dir: str | Path, task: GlueTask) -> dict[str, Path]:
    """Split -> TSV path in ``glue_dir/<TASK>/`` (or ``glue_dir`` itself when it is the task's folder)."""
    base = Path(glue_dir)
    if (base / task.dirname).is_dir():
        base = base / task.dirname
    stems = {"train": "train", **task.dev_files, **task.test_files}
    files = {split: base / f"{stem}.tsv" for split, stem in stems.items() if (base / f"{stem}.tsv").is_file()}
    if "train" not in files:
        raise UserError(f"no {task.dirname}/train.tsv under {glue_dir}; give the folder that holds {task.dirname}/")
    return files


def load_glue(
    task: GlueTask,
    files: dict[str, list[Path]] | None = None,
    dataset_name: str = GLUE_HUB_ID,
    revision: str | None = None,
):
    """The task as a ``DatasetDict``: from TSV ``files`` (split -> paths, concatenated) or from the Hub."""
    from datasets import DatasetDict, concatenate_datasets

    if files:
        return DatasetDict(
            {split: concatenate_datasets([read_glue_tsv(p, task) for p in paths]) for split, paths in files.items()}
        )
    raw = load_hub_dataset(dataset_name, task.name, revision)
    # The Hub names MNLI's splits validation_matched/test_matched; the rest of the code reads validation/test.
    raw = DatasetDict({k.replace("_matched", ""): v for k, v in raw.items()})
    for split in [s for s in raw if s.startswith("test")]:
        if "label" in raw[split].column_names:
            raw[split] = raw[split].remove_columns("label")  # the Hub marks hidden test labels as -1
    return raw


def write_submission(path: str | Path, task: GlueTask, idx, predictions) -> Path:
    """GLUE's submission format: ``index<TAB>prediction``, labels spelled as in the task's TSVs."""
    lines = ["index\tprediction"]
    for i, pred in zip(idx, predictions, strict=True):
        if task.is_regression:
            value = f"{min(max(float(pred), 0.0), 5.0):.3f}"  # STS-B scores live in [0, 5]
        else:
            value = task.label_names[int(pred)] if task.label_as_name else str(int(pred))
        lines.append(f"{i}\t{value}")
    path = Path(path)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path
