"""Stand-ins of real Hub repos (tests/standins.py), loaded by id through the real client code from the loopback Hub.

transformers, datasets and huggingface_hub read HF_ENDPOINT and the offline flags at import, so the client side runs
in a subprocess (tests/standins_client.py) whose environment points at the server; it prints one JSON report.
"""

import json
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from conftest import ROOT
from standins import (
    ALPACA,
    DATASET_BUILDERS,
    FINEWEB_EDU,
    GATED_DATASET,
    GATED_MODEL,
    GLUE,
    GPT2,
    LLAMA32,
    QWEN25,
    SMOLLM2,
    ULTRACHAT,
)


def client(check: str, *args: str, env: dict) -> dict:
    cmd = [sys.executable, str(ROOT / "tests" / "standins_client.py"), check, *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT, timeout=300)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def online(standin_hub, tmp_path_factory) -> tuple[dict, Path]:
    """One client run: every model and dataset, and the errors; tree listings paginated every 4 entries."""
    home = tmp_path_factory.mktemp("standins") / "home"
    tokens = standin_hub.tokens
    env = standin_hub.env(home, STANDINS_READER_TOKEN=tokens["reader"], STANDINS_GRANTED_TOKEN=tokens["granted"])
    server, unrouted = standin_hub.server, len(standin_hub.server.unrouted)
    server.tree_page_size = 4
    try:
        report = client("online", env=env)
    finally:
        server.tree_page_size = 1000
    assert server.unrouted[unrouted:] == [], "the clients called routes the server lacks"
    return report, home


def test_gpt2(online):
    m = online[0]["models"][GPT2]
    assert (m["tokenizer_class"], m["model_class"], m["dtype"]) == (
        "GPT2Tokenizer",
        "GPT2LMHeadModel",
        "torch.float32",
    )
    assert m["special"] == {"bos_token": "<|endoftext|>", "eos_token": "<|endoftext|>", "pad_token": None} | {
        "unk_token": "<|endoftext|>"
    }
    assert m["len_tokenizer"] == m["embedding_rows"] == m["config_vocab_size"] and m["tied"]
    assert m["special_ids"]["eos_token_id"] == m["len_tokenizer"] - 1, "<|endoftext|> is the last id"
    assert m["model_max_length"] == m["max_positions"] == 1024
    assert not m["has_chat_template"] and not m["encodes_bos"] and m["generation_pad"] is None
    assert m["new_tokens"] == 6


def test_smollm2(online):
    m = online[0]["models"][SMOLLM2]
    assert (m["tokenizer_class"], m["model_class"]) == ("GPT2Tokenizer", "LlamaForCausalLM")
    assert m["special"] == {"bos_token": "<|im_start|>", "eos_token": "<|im_end|>", "pad_token": "<|im_end|>"} | {
        "unk_token": "<|endoftext|>"
    }
    assert m["special_ids"] == {"bos_token_id": 1, "eos_token_id": 2, "pad_token_id": 2}
    assert (m["config_bos"], m["config_eos"], m["config_pad"], m["generation_eos"]) == (1, 2, 2, 2)
    assert m["len_tokenizer"] == m["embedding_rows"] and m["tied"] and m["model_max_length"] == 8192
    system = "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n"
    assert m["chat"] == system + "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
    assert m["chat_with_system"].startswith("<|im_start|>system\nBe brief.<|im_end|>\n")
    assert m["new_tokens"] == 6


def test_qwen25(online):
    m = online[0]["models"][QWEN25]
    assert (m["tokenizer_class"], m["model_class"]) == ("Qwen2Tokenizer", "Qwen2ForCausalLM")
    assert m["special"] == {
        "bos_token": None,
        "eos_token": "<|im_end|>",
        "pad_token": "<|endoftext|>",
        "unk_token": None,
    }
    assert m["special_ids"]["pad_token_id"] != m["special_ids"]["eos_token_id"]
    assert m["embedding_rows"] == m["config_vocab_size"] > m["len_tokenizer"], "spare embedding rows, as on the Hub"
    eos, pad = m["special_ids"]["eos_token_id"], m["special_ids"]["pad_token_id"]
    assert (m["config_eos"], m["config_bos"], m["generation_eos"], m["generation_pad"]) == (eos, pad, [eos, pad], pad)
    assert m["generation_do_sample"] and m["model_max_length"] == 131072 and m["max_positions"] == 32768
    system = "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n"
    assert m["chat"] == system + "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
    assert m["tied"] and m["new_tokens"] == 6


def test_llama32(online):
    m = online[0]["models"][LLAMA32]
    assert m["model_class"] == "LlamaForCausalLM" and m["tokenizer_class"] in (
        "TokenizersBackend",
        "PreTrainedTokenizerFast",
    )
    assert m["special"] == {"bos_token": "<|begin_of_text|>", "eos_token": "<|eot_id|>", "pad_token": None} | {
        "unk_token": None
    }
    assert m["len_tokenizer"] == m["embedding_rows"] and m["tied"], "the 256 reserved special tokens are in the vocab"
    bos, eot = m["special_ids"]["bos_token_id"], m["special_ids"]["eos_token_id"]
    assert m["config_eos"] == m["generation_eos"] == [bos + 1, bos + 8, eot] and eot == bos + 9
    assert m["encodes_bos"], "the tokenizer's post-processor prepends <|begin_of_text|>"
    assert m["chat"].startswith(
        "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nCutting Knowledge Date"
    )
    assert m["chat"].endswith("Hi<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n")
    assert "Be brief.<|eot_id|>" in m["chat_with_system"] and m["new_tokens"] == 6


def test_glue_sst2_and_stsb(online):
    report = online[0]
    sst2 = {s: report["datasets"][f"{GLUE}/sst2/{s}"] for s in ("train", "validation", "test")}
    for d in sst2.values():
        assert d["columns"] == ["sentence", "label", "idx"] and d["label_names"] == ["negative", "positive"]
        assert d["features"]["idx"] == "Value('int32')" and d["stream_first_equal"] and d["stream_features_equal"]
    assert sst2["train"]["labels"] == [0, 1] and sst2["test"]["labels"] == [-1]
    assert sst2["train"]["num_rows"] >= 200
    stsb = report["datasets"][f"{GLUE}/stsb/train"]
    assert stsb["columns"] == ["sentence1", "sentence2", "label", "idx"] and stsb["label_names"] is None
    assert stsb["features"]["label"] == "Value('float32')" and 0 <= min(stsb["labels"]) <= max(stsb["labels"]) <= 5
    assert report["glue_configs"] == ["cola", "mrpc", "rte", "sst2", "stsb"]


def test_fineweb_ultrachat_alpaca(online):
    report = online[0]
    sample = report["datasets"][f"{FINEWEB_EDU}/sample-10BT/train"]
    columns = ["text", "id", "dump", "url", "date", "file_path", "language", "language_score", "token_count"]
    assert sample["columns"] == [*columns, "score", "int_score"] and sample["stream_first_equal"]
    assert report["fineweb_configs"] == ["default", "sample-10BT", "CC-MAIN-2024-10"]
    assert report["datasets"][f"{FINEWEB_EDU}/default/train"]["first"]["dump"] == "CC-MAIN-2024-10"
    for split in ("train_sft", "test_sft"):
        chat = report["datasets"][f"{ULTRACHAT}/default/{split}"]
        assert chat["columns"] == ["prompt", "prompt_id", "messages"] and chat["stream_first_equal"]
        assert chat["features"]["messages"] == "List({'content': Value('string'), 'role': Value('string')})"
        assert chat["first"]["messages"][0] == {"content": chat["first"]["prompt"], "role": "user"}
    alpaca = report["datasets"][f"{ALPACA}/default/train"]
    assert alpaca["columns"] == ["instruction", "input", "output", "text"] and alpaca["stream_first_equal"]


def test_errors_are_the_real_hubs(online):
    errors = {name: (e["type"], e.get("message")) for name, e in online[0]["errors"].items()}
    assert (
        errors["model_missing_repo"][0] == "OSError"
        and "is not a valid model identifier" in errors["model_missing_repo"][1]
    )
    assert (
        errors["model_missing_revision"][0] == "OSError"
        and "is not a valid git identifier" in errors["model_missing_revision"][1]
    )
    assert errors["model_gated"] == ("OSError", "You are trying to access a gated repo.")
    assert errors["model_missing_file"][0] == "RemoteEntryNotFoundError"
    assert errors["hub_missing_repo"][0] == "RepositoryNotFoundError"
    assert errors["hub_missing_revision"][0] == "RevisionNotFoundError"
    assert errors["hub_gated"] == ("GatedRepoError", "401 Client Error.")
    assert errors["dataset_missing_repo"] == (
        "DatasetNotFoundError",
        "Dataset 'nyu-mll/no-such-dataset' doesn't exist on the Hub or cannot be accessed.",
    )
    assert errors["dataset_missing_revision"] == (
        "DatasetNotFoundError",
        "Revision 'v9.9' doesn't exist for dataset 'nyu-mll/glue' on the Hub.",
    )
    assert errors["dataset_missing_config"][0] == "ValueError"
    assert errors["dataset_missing_config"][1].startswith("BuilderConfig 'no_such_config' not found. Available: [")
    assert errors["dataset_config_required"] == ("ValueError", "Config name is missing.")
    assert (
        errors["dataset_missing_split"][0] == "ValueError"
        and 'Unknown split "dev"' in errors["dataset_missing_split"][1]
    )
    assert errors["dataset_missing_split_streaming"][0] == "ValueError"
    assert (
        errors["dataset_gated"][0] == "DatasetNotFoundError"
        and "You must be authenticated" in errors["dataset_gated"][1]
    )
    # with a token whose user was not given access: 403 GatedRepo; with one that was: the files
    assert errors["hub_gated_not_granted"] == ("GatedRepoError", "403 Client Error.")
    assert errors["model_gated_not_granted"] == ("OSError", "You are trying to access a gated repo.")
    assert "ask for access" in online[0]["errors"]["dataset_gated_not_granted"]["message"]
    assert errors["model_gated_granted"][0] is None and errors["dataset_gated_granted"][0] is None


def test_offline(standin_hub, online, tmp_path):
    """HF_HUB_OFFLINE=1: an empty cache is an error (not a hang); the cache of the online run loads."""
    env = standin_hub.env(tmp_path / "offline-home", HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1")
    report = client("offline", str(online[1]), env=env)
    assert (
        report["model_empty_cache"]["type"] == "OSError"
        and "couldn't connect" in report["model_empty_cache"]["message"]
    )
    assert report["dataset_empty_cache"]["type"] == "ConnectionError"
    assert report["model_warm_cache"]["type"] is None and report["dataset_warm_cache"]["type"] is None


def _get(url: str, token: str | None = None, method: str = "GET"):
    request = urllib.request.Request(url, method=method, headers={"Authorization": f"Bearer {token}"} if token else {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), err.read()


def test_server_routes_as_the_hub(standin_hub):
    hub, endpoint = standin_hub.server, standin_hub.endpoint
    status, headers, _ = _get(f"{endpoint}/api/datasets/nyu-mll/no-such-dataset")
    assert (status, headers["X-Error-Code"]) == (401, "RepoNotFound"), "anonymous: 401, as the Hub"
    status, headers, _ = _get(f"{endpoint}/api/datasets/nyu-mll/no-such-dataset", standin_hub.tokens["reader"])
    assert (status, headers["X-Error-Code"]) == (404, "RepoNotFound")
    status, headers, _ = _get(f"{endpoint}/api/datasets/{GLUE}/revision/refs%2Fconvert%2Fparquet")
    assert (status, headers["X-Error-Code"]) == (404, "RevisionNotFound"), "a slashed revision is one segment"
    status, headers, _ = _get(f"{endpoint}/api/models/{GPT2}")
    assert status == 200 and json.loads(_)["sha"] == hub.repos[GPT2]["commits"][-1]["oid"]

    hub.tree_page_size = 2  # the Hub's pagination: a Link header to the next page
    try:
        url, paths = f"{endpoint}/api/datasets/{GLUE}/tree/main/sst2?expand=true", []
        while url:
            status, headers, body = _get(url)
            paths += [e["path"] for e in json.loads(body)]
            assert all("lastCommit" in e for e in json.loads(body))
            url = headers.get("Link", "").partition("<")[2].partition(">")[0]
    finally:
        hub.tree_page_size = 1000
    assert paths == [f"sst2/{s}-00000-of-00001.parquet" for s in ("test", "train", "validation")]

    status, _, body = _get(f"{endpoint}/api/datasets/{GLUE}/parquet/sst2")
    assert status == 200 and set(json.loads(body)) == {"train", "validation", "test"}
    gated = f"{endpoint}/datasets/{GATED_DATASET}/resolve/main/README.md"
    assert [_get(gated, t, "HEAD")[0] for t in (None, *standin_hub.tokens.values())] == [401, 403, 200]
    assert hub.repos[GATED_MODEL]["gated"] == "manual" and not hub.repos[GPT2]["gated"]


def test_add_folder_survives_a_restart(standin_hub, tmp_path):
    from hub_server import HubServer

    root = tmp_path / "storage"
    server = HubServer(root)
    oid = server.add_folder("alice/data", standin_hub.seeded["datasets"][ALPACA], repo_type="dataset")
    assert "alice/data" not in server.repos and "datasets/alice/data" in server.repos, "datasets have their own ids"
    again = HubServer(root)
    assert again.repos["datasets/alice/data"]["commits"][-1]["oid"] == oid
    assert {".gitattributes", "README.md"} <= set(again.repo_files("alice/data", repo_type="dataset"))


def test_datasets_fall_back_to_the_embedded_corpus(tmp_path, monkeypatch):
    """Without /work/shared/data (users' machines) every dataset is still built, from the embedded corpus."""
    import standins
    from datasets import load_dataset

    monkeypatch.setattr(standins, "SHARED_DATA", tmp_path / "absent")
    texts = standins._training_text()
    for repo_id, build in DATASET_BUILDERS.items():
        folder = tmp_path / repo_id
        folder.mkdir(parents=True)
        build(folder, texts)
    sst2 = load_dataset(str(tmp_path / GLUE), "sst2", split="train")
    assert sst2.features["label"].names == ["negative", "positive"] and set(sst2["label"]) == {0, 1}
    assert load_dataset(str(tmp_path / ALPACA), split="train").num_rows >= 100
    chats = load_dataset(str(tmp_path / ULTRACHAT), split="test_sft")
    assert chats.num_rows > 0 and chats[0]["messages"][0]["role"] == "user"
    assert load_dataset(str(tmp_path / FINEWEB_EDU), "sample-10BT", split="train").num_rows > 0
