"""The data error boundary (hfrecipes.datafiles): diagnose() per format, the eager and lazy boundaries, and that an
exception the files do not explain goes on unchanged. Fast: no model, a few small datasets loads."""

import json
import logging

import pytest

from hfrecipes import datafiles
from hfrecipes.datafiles import diagnose, precheck, reader_error_message
from hfrecipes.errors import UserError

PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"
ROWS = "".join(json.dumps({"text": f"doc {i}"}) + "\n" for i in range(3))

# file name, content, the problem diagnose() reports (a fragment after the file name), or None: nothing wrong
DIAGNOSES = [
    ("ok.jsonl", ROWS + "\n\n" + ROWS, None),
    ("ok.json", json.dumps([{"text": "a"}, {"text": "b"}], indent=2), None),
    ("strings.json", '["a", "b"]', None),  # datasets reads a list of strings as a text column
    ("lines.json", ROWS, None),  # JSON Lines in a .json file
    ("one-row.json", json.dumps({"text": "one document", "id": 1}, indent=2), None),
    ("chat.json", json.dumps({"messages": [{"role": "user", "content": "hi"}] * 2}), None),  # a chat is one row
    ("bom.jsonl", "\ufeff" + ROWS, None),
    ("ok.csv", 'text,label\n"a, quoted",1\n"two\nlines",0\n', None),
    ("ok.txt", "para one\n\npara two\n", None),
    (
        "broken.jsonl",
        ROWS + '{"text": broken\n',
        " line 4: not valid JSON (Expecting value at column 10); fix or remove",
    ),
    ("list.jsonl", ROWS + "[1, 2]\n", " line 4: a list, not a JSON object; write one object per line"),
    ("scalar.jsonl", '"just a string"\n', " line 1: a string, not a JSON object"),
    ("blank.jsonl", "\n  \n", " holds no rows (only blank lines)"),
    ("broken.json", '[{"text": "a"},\n {"text": }]', " line 2: not valid JSON (Expecting value at column 11)"),
    ("mixed.json", '[{"text": "a"},\n "b"]', " line 2: item 2 of the list is a string, not an object"),
    ("extra.json", '[{"text": "a"}]\n[{"text": "b"}]', " line 2: more JSON after the first value ends"),
    ("wrapped.json", json.dumps({"data": [{"text": "a"}, {"text": "b"}]}, indent=2), "(its rows look like the list"),
    ("columns.json", json.dumps({"text": ["a", "b"], "label": [0, 1]}), " line 1: a JSON object where a list of rows"),
    ("ragged.csv", "text,label\na,1\nb,1,2\n", " line 3 has 3 fields, the header has 2; fix or remove that row"),
    ("short.tsv", "text\tlabel\na\t1\nb\n", " line 3 has 1 field, the header has 2"),
    ("quoted.csv", 'text,label\n"a, quoted,1\nb,2\n', " line 2: a quoted field is never closed (it runs to the end)"),
    ("header.csv", "text,label\n\n", " has a header (text,label) but no rows; add rows below it"),
    (
        "latin1.txt",
        "first line\n\ncaf\xe9 au lait\n".encode("latin-1"),
        " is not valid UTF-8 (line 3, byte 15: invalid",
    ),
    ("image.txt", PNG, " is binary data, not text (a NUL byte at byte 8)"),
    ("image.jsonl", ROWS.encode() + b"\x00\n", " is binary data, not text (a NUL byte at byte 54)"),
    ("utf16.csv", "text\nhello\n".encode("utf-16"), " is UTF-16 text; re-encode it as UTF-8"),
    ("blank.txt", "\n \n\t\n", " holds only blank lines"),
    ("text.parquet", "text\nnot parquet\n", " is not a parquet file (it does not begin with the magic bytes PAR1)"),
]


@pytest.mark.parametrize(("name", "content", "problem"), DIAGNOSES, ids=[d[0] for d in DIAGNOSES])
def test_diagnose_names_file_line_and_fix(tmp_path, name, content, problem):
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    message = diagnose(path)
    if problem is None:
        assert message is None
    else:
        assert message is not None and message.startswith(str(path)) and problem in message, message
        assert "\n" not in message and "; " in message, "one line: what is wrong; how to fix it"


def test_diagnose_parquet(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    good = tmp_path / "good.parquet"
    pq.write_table(pa.table({"text": [f"row {i}" for i in range(100)]}), good)
    assert diagnose(good) is None
    cut = tmp_path / "cut.parquet"
    cut.write_bytes(good.read_bytes()[:-20])
    assert "cut.parquet is cut short (a parquet file ends with the magic bytes PAR1)" in diagnose(cut)
    assert precheck(cut) == diagnose(cut)


def test_diagnose_folders(tmp_path):
    from datasets import Dataset, DatasetDict

    (tmp_path / "docs" / "part").mkdir(parents=True)
    (tmp_path / "docs" / "part" / "a.jsonl").write_text(ROWS)
    assert diagnose(tmp_path / "docs").endswith(f"is a folder, not a data file; name the files in it, e.g. "
                                                f"'{tmp_path}/docs/**/*.jsonl'")  # fmt: skip
    (tmp_path / "docs" / "b.txt").write_text("top\n")
    assert datafiles.folder_message(tmp_path / "docs", "--train_file").endswith(
        f"--train_file '{tmp_path}/docs/*.txt'"
    )

    DatasetDict({"train": Dataset.from_dict({"text": ["a", "b"]})}).save_to_disk(str(tmp_path / "saved"))
    assert diagnose(tmp_path / "saved") is None
    assert "pass it as --dataset_name" in datafiles.folder_message(tmp_path / "saved")
    (tmp_path / "saved" / "train" / "state.json").write_text('{"_data_files": [{"filename": "gone.arrow"}]}')
    assert "gone.arrow is missing (it is listed in" in diagnose(tmp_path / "saved")
    (tmp_path / "saved" / "dataset_dict.json").write_text('{"splits": ["train", "test"')
    assert "dataset_dict.json line 1: not valid JSON (" in diagnose(tmp_path / "saved")


def test_precheck_is_cheap_and_spares_one_row_per_file(tmp_path):
    wrapped = json.dumps({"data": [{"text": "a"}, {"text": "b"}]})
    (tmp_path / "one.json").write_text(wrapped)
    assert "a JSON object where a list of rows was expected" in precheck(tmp_path / "one.json")
    assert precheck(tmp_path / "one.json", alone=False) is None, "many files of one object each: a row per file"
    (tmp_path / "chats.jsonl").write_text(json.dumps({"messages": [{"role": "user", "content": "hi"}]}) + "\n")
    assert precheck(tmp_path / "chats.jsonl") is None
    (tmp_path / "broken.jsonl").write_text('{"text": broken\n')
    assert precheck(tmp_path / "broken.jsonl") is None, "syntax is the reader's, and diagnose's after it fails"


def test_check_data_files_names_a_folder_and_suggests_a_glob(tmp_path):
    from hfrecipes.sources import check_data_files

    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "a.txt").write_text("one\n")
    with pytest.raises(ValueError, match=r"docs is a folder, not a data file; .* --train_file '.*/docs/\*\.txt'"):
        check_data_files([str(tmp_path / "docs")])


def test_load_data_files_turns_reader_errors_into_one_line(tmp_path):
    from hfrecipes.sources import load_data_files

    (tmp_path / "d.jsonl").write_text(ROWS + '{"text": broken\n')
    with pytest.raises(UserError, match=r"d\.jsonl line 4: not valid JSON \(Expecting value at column 10\)") as err:
        load_data_files({"train": [str(tmp_path / "d.jsonl")]})
    assert type(err.value.__cause__).__name__ == "DatasetGenerationError", "the reader's error stays as the cause"


def test_an_error_the_files_do_not_explain_is_raised_unchanged(tmp_path, monkeypatch):
    """A bug keeps its traceback: the boundary never turns an unknown error into a user error."""
    import datasets
    import pyarrow as pa

    from hfrecipes.sources import load_data_files

    (tmp_path / "ok.jsonl").write_text(ROWS)
    for boom in (RuntimeError("a bug somewhere"), pa.ArrowInvalid("a reader error the file does not show")):

        def fail(*args, boom=boom, **kwargs):
            raise boom

        monkeypatch.setattr(datasets, "load_dataset", fail)
        with pytest.raises(type(boom)) as err:
            load_data_files({"train": [str(tmp_path / "ok.jsonl")]})
        assert err.value is boom


def test_held_reader_logs_come_back_with_an_unexplained_error(tmp_path):
    """datasets logs "Failed to read file" before it raises: dropped for a diagnosed file, kept for a bug."""
    logger = logging.getLogger("datasets.packaged_modules.json.json")
    seen = []
    handler = logging.Handler()
    handler.emit = seen.append
    logger.addHandler(handler)
    (tmp_path / "ok.jsonl").write_text(ROWS)
    (tmp_path / "bad.jsonl").write_text('{"text": broken\n')
    try:
        with pytest.raises(UserError), datafiles.reading([tmp_path / "bad.jsonl"]):
            logger.error("Failed to load JSON from file '%s'", tmp_path / "bad.jsonl")
            raise ValueError("from the reader")
        assert seen == []
        with pytest.raises(ValueError), datafiles.reading([tmp_path / "ok.jsonl"]):
            logger.error("Failed to load JSON from file '%s'", tmp_path / "ok.jsonl")
            raise ValueError("from the reader")
        assert [r.getMessage() for r in seen] == [f"Failed to load JSON from file '{tmp_path / 'ok.jsonl'}'"]
    finally:
        logger.removeHandler(handler)


def test_reader_error_message_for_lazy_reads(tmp_path):
    import pyarrow as pa
    from datasets import load_dataset

    bad = tmp_path / "d.jsonl"
    bad.write_text(ROWS + '{"text": broken\n')
    stream = load_dataset("json", data_files=str(bad), streaming=True)["train"]
    with pytest.raises(pa.ArrowInvalid) as err:  # a stream fails only while it is read
        list(stream)
    datafiles.forget()
    assert reader_error_message(err.value) is None, "a file no loader registered is not blamed"
    datafiles.register([bad])
    assert reader_error_message(err.value) == f"{bad} line 4: not valid JSON (Expecting value at column 10); " + (
        "fix or remove that line"
    )
    wrapped = RuntimeError("the trainer failed")
    wrapped.__cause__ = err.value
    assert reader_error_message(wrapped) is not None, "found through __cause__"
    assert reader_error_message(RuntimeError("CUDA out of memory")) is None, "not a reader's error: a bug"
    bad.write_text(ROWS)
    assert reader_error_message(err.value) is None, "the files are fine: the error is not theirs"
    datafiles.forget()


def test_glue_tsv_ragged_rows_are_errors(tmp_path):
    from hfrecipes.glue import get_task, read_glue_tsv

    (tmp_path / "train.tsv").write_text('sentence\tlabel\na "quoted\t1\nb\t0\t1\n')
    with pytest.raises(UserError, match=r"train\.tsv line 3 has 3 fields, the header has 2; fix or remove that row"):
        read_glue_tsv(tmp_path / "train.tsv", get_task("sst2"))
    (tmp_path / "cola.tsv").write_text("gj04\t1\t\tGood.\ngj04\t0\t*\n")  # CoLA's train file has no header
    with pytest.raises(UserError, match=r"cola\.tsv line 2 has 3 fields, GLUE CoLA rows have 4"):
        read_glue_tsv(tmp_path / "cola.tsv", get_task("cola"))
    (tmp_path / "idx.tsv").write_text("index\tsentence\tlabel\n0\tfine\t1\nx\tbad\t0\n")
    with pytest.raises(UserError, match=r"idx\.tsv line 3: index 'x' is not an integer"):
        read_glue_tsv(tmp_path / "idx.tsv", get_task("sst2"))


MESSAGE_PROBLEMS = [
    ([{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}], None),
    ("a string", "'messages' is a string, not a list of turns"),
    ([], "'messages' is an empty list, with no turns"),
    (["hi"], "turn 1 is a string, not a {'role': ..., 'content': ...} object"),
    ([{"content": "hi"}], "turn 1 has no 'role' (system, user, assistant, tool)"),
    ([{"from": "human", "value": "hi"}], "(ShareGPT turns: rename 'from'/'value' to 'role'/'content'"),
    ([{"role": "human", "content": "hi"}], "turn 1 has role 'human', not one of system, user, assistant, tool"),
    ([{"role": "user"}], "turn 1 has no 'content'"),
    ([{"role": "user", "content": "a"}, {"role": "assistant", "content": 5}], "turn 2's content is a number"),
]


@pytest.mark.parametrize(("messages", "problem"), MESSAGE_PROBLEMS)
def test_messages_problem(messages, problem):
    from hfrecipes.chat import messages_problem

    found = messages_problem(messages)
    assert found is None if problem is None else problem in found


def test_sft_rows_are_checked_as_converted_and_named():
    from datasets import Dataset

    from hfrecipes.chat import to_messages

    good = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]
    typed = Dataset.from_dict({"messages": [good] * 30 + [[good[0], {"role": "bot", "content": "b"}]] + [good] * 5})
    with pytest.raises(UserError, match=r"^the train data row 28: turn 2 has role 'bot'"):
        to_messages(typed.select(range(3, 36)))  # Arrow compute, a batch at a time; row numbers of this dataset
    with pytest.raises(UserError, match=r"^the validation data row 2: turn 1 has no 'role'"):
        to_messages(Dataset.from_list([{"messages": good}, {"messages": [{"content": "x"}]}]), "validation")
    alpaca = Dataset.from_dict({"instruction": ["Add.", "Greet"], "output": ["4", None]})
    with pytest.raises(UserError, match=r"^the train data row 2: 'output' is null, not a string"):
        to_messages(alpaca)
    stream = Dataset.from_dict({"messages": [good] * 3 + [[{"role": "user", "content": None}]]}).to_iterable_dataset()
    checked = to_messages(stream)  # a stream: the first row now, the rest as it is read
    with pytest.raises(UserError, match=r"^the train data row 4: turn 1 has no 'content'"):
        list(checked)
