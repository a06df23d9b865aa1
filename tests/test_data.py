import json
from pathlib import Path

import pytest
from transformers import AutoTokenizer

from hfrecipes.config import parse_config
from hfrecipes.corpus import build_records, load_python_docs
from hfrecipes.data import DataArguments, iter_text_batches, load_text_datasets, pack_dataset
from hfrecipes.errors import UserError


def data_args(*argv):
    return parse_config([DataArguments], list(argv))[0]


def test_builtin_corpus_is_deterministic_and_split():
    records = build_records()
    assert records == build_records()
    size = sum(len(r["text"].encode()) for r in records)
    assert size > 500_000, "topics + docstrings should give well over half a megabyte"
    kinds = {r["kind"] for r in records}
    assert {"topic", "module", "function", "class"} <= kinds
    dsd = load_python_docs()
    assert len(dsd["train"]) > 10 * len(dsd["validation"]) > 0
    names_train, names_val = set(dsd["train"]["name"]), set(dsd["validation"]["name"])
    assert not names_train & names_val
    assert set(load_python_docs()["validation"]["name"]) == names_val


def test_builtin_is_the_default():
    raw = load_text_datasets(data_args())
    assert set(raw) == {"train", "validation"} and "text" in raw["train"].column_names


@pytest.mark.parametrize("kind", ["txt", "json", "jsonl", "csv", "parquet"])
def test_local_file_kinds(tmp_path, kind):
    docs = [f"document number {i}, with some text." for i in range(20)]
    path = tmp_path / f"data.{kind}"
    if kind == "txt":
        path.write_text("\n\n".join(docs) + "\n")
    elif kind == "json":
        path.write_text(json.dumps([{"body": d} for d in docs]))
    elif kind == "jsonl":
        path.write_text("\n".join(json.dumps({"body": d}) for d in docs))
    elif kind == "csv":
        path.write_text("body\n" + "\n".join(f'"{d}"' for d in docs))
    else:
        import pandas as pd

        pd.DataFrame({"body": docs}).to_parquet(path)
    column = "text" if kind == "txt" else "body"
    raw = load_text_datasets(
        data_args("--train_file", str(path), "--text_column", column, "--validation_split_percentage", "10")
    )
    texts = sorted(t.strip() for t in list(raw["train"][column]) + list(raw["validation"][column]))
    assert texts == sorted(docs), "every document arrives once, paragraphs of a .txt file are documents"
    assert len(raw["validation"]) == 2


def test_globs_many_files_and_validation_file(tmp_path):
    for i in range(3):
        (tmp_path / f"part{i}.txt").write_text(f"train part {i}\n\nsecond paragraph {i}\n")
    (tmp_path / "val.txt").write_text("held out\n")
    raw = load_text_datasets(
        data_args("--train_file", str(tmp_path / "part*.txt"), "--validation_file", str(tmp_path / "val.txt"))
    )
    assert len(raw["train"]) == 6 and list(raw["validation"]["text"]) == ["held out\n"]


def test_data_errors(tmp_path):
    with pytest.raises(UserError, match="no file matches"):
        data_args("--train_file", str(tmp_path / "missing.txt"))
    (tmp_path / "x.xml").write_text("<a/>")
    with pytest.raises(UserError, match="unsupported file type .xml"):
        data_args("--train_file", str(tmp_path / "x.xml"))
    (tmp_path / "d.jsonl").write_text('{"body": "hi"}\n')
    with pytest.raises(UserError, match="no column 'text'.*set --text_column"):
        load_text_datasets(data_args("--train_file", str(tmp_path / "d.jsonl")))
    with pytest.raises(UserError, match="not both"):
        data_args("--train_file", str(tmp_path / "d.jsonl"), "--dataset_name", "someone/corpus")


def test_non_utf8_file_is_a_clear_error(tmp_path):
    (tmp_path / "bad.txt").write_bytes(b"caf\xe9 au lait\n\nmore\n")
    with pytest.raises(UserError, match="not valid UTF-8"):
        load_text_datasets(data_args("--train_file", str(tmp_path / "bad.txt")))


@pytest.fixture(scope="module")
def tok(tiny_tokenizer):
    return AutoTokenizer.from_pretrained(tiny_tokenizer)


def test_packing_puts_eos_between_documents_and_drops_only_the_tail(tok):
    from datasets import Dataset

    docs = [f"doc {i} " + "word " * (i % 7) for i in range(50)]
    ds = Dataset.from_dict({"text": docs})
    packed = pack_dataset(ds, tok, block_size=16, batch_size=7)
    expected = []
    for d in docs:
        expected += tok(d, add_special_tokens=False)["input_ids"] + [tok.eos_token_id]
    n = len(expected) // 16
    rows = [list(r) for r in packed["input_ids"]]
    flat = [t for row in rows for t in row]
    assert len(packed) == n and all(len(r) == 16 for r in rows)
    assert flat == expected[: n * 16], "blocks are the concatenation of documents, across map batches"
    assert flat.count(tok.eos_token_id) == expected[: n * 16].count(tok.eos_token_id)


def test_streaming_packing_matches_in_memory(tok):
    from datasets import Dataset

    ds = Dataset.from_dict({"text": [f"streamed doc {i} " * (1 + i % 4) for i in range(40)]})
    in_memory = pack_dataset(ds, tok, block_size=8)["input_ids"]
    streamed = [row["input_ids"] for row in pack_dataset(ds.to_iterable_dataset(), tok, block_size=8, batch_size=5)]
    assert [list(r) for r in streamed] == [list(r) for r in in_memory]


def test_iter_text_batches_works_for_streams():
    raw = load_text_datasets(data_args("--streaming", "--max_eval_samples", "10"))
    batches = list(iter_text_batches(raw["validation"], batch_size=4))
    assert sum(len(b) for b in batches) == 10


def test_shakespeare_loads(shared_data):
    raw = load_text_datasets(data_args("--train_file", str(shared_data / "tinyshakespeare" / "input.txt")))
    text = "".join(list(raw["train"]["text"]) + list(raw["validation"]["text"]))
    assert "First Citizen" in text and len(raw["train"]) > 5000


def test_hub_path_is_kept_real(monkeypatch):
    """--dataset_name goes to datasets.load_dataset with config and streaming (cannot download here)."""
    import datasets

    calls = {}

    def fake_load_dataset(name, config=None, streaming=False, **kw):
        calls.update(name=name, config=config, streaming=streaming)
        return datasets.DatasetDict({"train": datasets.Dataset.from_dict({"text": ["a", "b", "c", "d"]})})

    monkeypatch.setattr(datasets, "load_dataset", fake_load_dataset)
    raw = load_text_datasets(
        data_args(
            "--dataset_name",
            "Salesforce/wikitext",
            "--dataset_config",
            "wikitext-2-raw-v1",
            "--validation_split_percentage",
            "25",
        )
    )
    assert calls == {"name": "Salesforce/wikitext", "config": "wikitext-2-raw-v1", "streaming": False}
    assert len(raw["train"]) == 3 and len(raw["validation"]) == 1


def test_map_style_packing_is_chunked_cached_and_on_disk(tok, tmp_path):
    """Big corpora are packed batch by batch into a memory-mapped dataset that a second run finds in the cache."""
    from datasets import Dataset, load_from_disk

    docs = [f"on disk {i} " + "token " * (i % 13) for i in range(300)]
    Dataset.from_dict({"text": docs}).save_to_disk(str(tmp_path / "text"))
    ds = load_from_disk(str(tmp_path / "text"))
    packed = pack_dataset(ds, tok, block_size=16, batch_size=7)
    expected = [t for d in docs for t in tok(d, add_special_tokens=False)["input_ids"] + [tok.eos_token_id]]
    assert [t for row in packed["input_ids"] for t in row] == expected[: len(expected) // 16 * 16]
    assert packed.cache_files, "memory-mapped from a cache file, not held in memory"
    assert Path(packed.cache_files[0]["filename"]).is_relative_to(tmp_path), "beside the data, as map's cache"
    again = pack_dataset(ds, tok, block_size=16, batch_size=7)
    assert again._fingerprint == packed._fingerprint and again.cache_files == packed.cache_files
    assert pack_dataset(ds, tok, block_size=17, batch_size=7)._fingerprint != packed._fingerprint


def test_packing_less_than_one_block_gives_no_rows(tok):
    from datasets import Dataset

    packed = pack_dataset(Dataset.from_dict({"text": ["hi"]}), tok, block_size=64)
    assert len(packed) == 0 and packed.column_names == ["input_ids"]


def test_saved_dataset_folder_loads(tmp_path):
    from datasets import Dataset

    Dataset.from_dict({"text": [f"saved {i}" for i in range(40)]}).save_to_disk(str(tmp_path / "saved"))
    args = data_args("--dataset_name", str(tmp_path / "saved"), "--validation_split_percentage", "10")
    raw = load_text_datasets(args)
    assert len(raw["train"]) == 36 and len(raw["validation"]) == 4
