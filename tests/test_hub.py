"""Hub push end to end, through huggingface_hub's real client code, against tests/hub_server.py on 127.0.0.1.

huggingface_hub reads HF_ENDPOINT and the offline flag when imported, and this process is offline (conftest), so
every Hub call runs in a subprocess whose environment points at the loopback server, with its own HF_HOME (no shared
cache, no stored token) and HF_HUB_DISABLE_XET=1 (the server speaks LFS, not Xet).
"""

import hashlib
import json
import os
import secrets
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT, launch
from hub_server import HubServer

TOKEN = f"hf_alice_{secrets.token_hex(16)}"  # write access, user alice
READ_TOKEN = f"hf_alice_read_{secrets.token_hex(16)}"
BOB_TOKEN = f"hf_bob_{secrets.token_hex(16)}"
USERS = {TOKEN: ("alice", "write"), READ_TOKEN: ("alice", "read"), BOB_TOKEN: ("bob", "write")}
# fmt: off
TINY_LM = ["--n_layer", "1", "--n_head", "2", "--n_embd", "32", "--block_size", "32", "--max_train_samples", "200",
           "--max_eval_samples", "20", "--per_device_train_batch_size", "8", "--learning_rate", "3e-3",
           "--max_train_minutes", "0", "--max_steps", "8", "--logging_steps", "1", "--save_steps", "4"]
# fmt: on


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    server = HubServer(tmp_path_factory.mktemp("hub-storage"), USERS)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def home(tmp_path) -> Path:
    return tmp_path / "hf_home"


def hub_env(endpoint: str, home: Path, token: str | None = TOKEN) -> dict:
    """This process's environment, pointed at the loopback server, with ``token`` as the only credential."""
    import datasets

    drop = {"HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_TOKEN_PATH", "HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE"}
    env = {k: v for k, v in os.environ.items() if k not in drop and k != "TRANSFORMERS_OFFLINE"}
    env.update(
        HF_ENDPOINT=endpoint,
        HF_HUB_DISABLE_XET="1",
        HF_HUB_OFFLINE="0",
        HF_HOME=str(home),
        HF_DATASETS_CACHE=str(datasets.config.HF_DATASETS_CACHE),  # keep the builtin corpus cache
        HF_HUB_DISABLE_PROGRESS_BARS="1",
        HF_HUB_DISABLE_TELEMETRY="1",
        PYTHONPATH=str(ROOT / "src"),
    )
    if token:
        env["HF_TOKEN"] = token
    return env


def push(out: Path, env: dict, *args: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "hfrecipes.cli", "push", str(out), *args]
    return subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT, timeout=180)


def client(check: str, *args: str, env: dict) -> dict:
    cmd = [sys.executable, str(ROOT / "tests" / "hub_client.py"), check, *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT, timeout=300)
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert_no_secret(proc.stdout, proc.stderr)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def assert_one_line_error(proc: subprocess.CompletedProcess, *needles: str) -> str:
    assert proc.returncode == 2, proc.stdout[-2000:] + proc.stderr[-4000:]
    assert "Traceback" not in proc.stderr, proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and proc.stderr.strip().endswith(errors[0]), proc.stderr  # warnings may come before
    for needle in needles:
        assert needle in errors[0], errors[0]
    assert_no_secret(proc.stdout, proc.stderr)
    return errors[0]


def assert_no_secret(*texts: str, folders=()) -> None:
    """No token in any log line or in any byte of any file under ``folders``."""
    for text in texts:
        for token in USERS:
            assert token not in text
    for folder in folders:
        for path in Path(folder).rglob("*"):
            if path.is_file():
                data = path.read_bytes()
                for token in USERS:
                    assert token.encode() not in data, f"token found in {path}"


def digest(folder: Path) -> dict[str, tuple[str, int]]:
    """Content hash and mtime of every file: a failed push must leave the folder exactly as it was."""
    return {
        p.relative_to(folder).as_posix(): (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns)
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def classifier_run(tiny_tokenizer, tmp_path_factory) -> Path:
    """What the classify recipe will leave: a tiny GPT2ForSequenceClassification with label names, results, card."""
    import torch
    from transformers import AutoTokenizer, GPT2Config, GPT2ForSequenceClassification

    from hfrecipes.cards import write_model_card
    from hfrecipes.data import DataArguments
    from hfrecipes.runs import save_run_config, write_results

    out = tmp_path_factory.mktemp("classifier") / "run"
    tokenizer = AutoTokenizer.from_pretrained(tiny_tokenizer)
    torch.manual_seed(0)
    labels = {0: "negative", 1: "positive"}
    config = GPT2Config(
        vocab_size=len(tokenizer),
        n_positions=64,
        n_embd=32,
        n_layer=1,
        n_head=2,
        id2label=labels,
        label2id={v: k for k, v in labels.items()},
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    model = GPT2ForSequenceClassification(config)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    save_run_config(out, DataArguments(), recipe="classify")
    write_results(out, {"eval_accuracy": 0.75, "eval_loss": 0.69, "num_parameters": model.num_parameters()})
    write_model_card(out, pipeline_tag="text-classification", metrics=["eval_accuracy"], base_model="alice/tiny-lm")
    return out


@pytest.fixture
def run_copy(classifier_run, tmp_path) -> Path:
    """A private copy: a successful push may refresh the folder's card for the new repo id."""
    return Path(shutil.copytree(classifier_run, tmp_path / "run"))


@pytest.mark.slow
def test_pretrain_push_roundtrip(hub, tiny_tokenizer, tmp_path, home):
    out = tmp_path / "lm"
    env = hub_env(hub.endpoint, home)
    args = [*TINY_LM, "--tokenizer_name", str(tiny_tokenizer), "--report_to", "tensorboard", "--output_dir", str(out)]
    proc = launch("pretrain", *args, "--push_to_hub", "--hub_model_id", "tiny-lm", env=env)
    assert f"Pushed to {hub.endpoint}/alice/tiny-lm" in proc.stdout

    files = hub.repo_files("alice/tiny-lm")  # the user's namespace was added to the bare name
    for name in ["model.safetensors", "config.json", "tokenizer.json", "results.json", "README.md", "loss_curve.png"]:
        assert name in files, name
    assert (out / "checkpoint-4").is_dir() and (out / "runs").is_dir() and (out / "training_args.bin").is_file()
    assert not [p for p in files if p.startswith(("checkpoint-", "runs/")) or p.endswith(".bin")]
    assert files["model.safetensors"].read_bytes() == (out / "model.safetensors").read_bytes()
    assert ("PUT", "/lfs-upload/") in {(m, p[:12]) for m, p, _ in hub.log}, "the weights went through LFS"
    assert 'model="alice/tiny-lm"' in (out / "README.md").read_text()

    report = client("causal-lm", "alice/tiny-lm", str(out), env=env)
    assert (
        report["same_token_ids"] and report["max_abs_logit_diff"] < 1e-5
    )  # same weights; float sums may differ with the thread count
    assert report["generated"].startswith(report["prompt"]) and len(report["generated"]) > len(report["prompt"])
    assert report["snippet_output"].strip(), "the card's usage snippet runs against the Hub"

    import torch

    args_bin = torch.load(out / "training_args.bin", weights_only=False)
    assert args_bin.hub_token is None and args_bin.push_to_hub is False, "the Trainer never pushed on its own"
    assert_no_secret(proc.stdout, proc.stderr, folders=[out, home, hub.root])
    assert not hub.unrouted


@pytest.mark.slow
def test_classifier_push_roundtrip(hub, run_copy, home):
    env = hub_env(hub.endpoint, home)
    proc = push(run_copy, env, "--repo-id", "tiny-clf")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert f"Pushed {run_copy} to {hub.endpoint}/alice/tiny-clf" in proc.stdout
    card = hub.repo_files("alice/tiny-clf")["README.md"].read_text()
    assert "pipeline_tag: text-classification" in card and "base_model: alice/tiny-lm" in card
    assert 'model="alice/tiny-clf"' in card and (run_copy / "README.md").read_text() == card

    report = client("classifier", "alice/tiny-clf", str(run_copy), env=env)
    assert (
        report["same_token_ids"] and report["max_abs_logit_diff"] < 1e-5
    )  # same weights; float sums may differ with the thread count
    assert {p["label"] for p in report["predictions"]} <= {"negative", "positive"}, "real label names"
    assert "negative" in report["snippet_output"] or "positive" in report["snippet_output"]
    assert_no_secret(proc.stdout, proc.stderr, folders=[run_copy, home, hub.root])
    assert not hub.unrouted


@pytest.mark.slow
def test_train_tokenizer_push(hub, tmp_path, home):
    out = tmp_path / "tok"
    args = ["--vocab_size", "300", "--max_train_samples", "200", "--output_dir", str(out), "--push_to_hub"]
    proc = launch("train_tokenizer", *args, "--hub_model_id", "alice/tok", env=hub_env(hub.endpoint, home))
    files = hub.repo_files("alice/tok")
    assert {"tokenizer.json", "tokenizer_config.json", "results.json", "README.md"} <= set(files)
    assert 'AutoTokenizer.from_pretrained("alice/tok")' in files["README.md"].read_text()
    assert_no_secret(proc.stdout, proc.stderr, folders=[out, home])


def test_private_repo_needs_its_owners_token(hub, run_copy, home):
    proc = push(run_copy, hub_env(hub.endpoint, home), "--repo-id", "alice/secret-clf", "--private")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert hub.repos["alice/secret-clf"]["private"] is True
    anonymous = client("access", "alice/secret-clf", env=hub_env(hub.endpoint, home / "anonymous", token=None))
    assert anonymous["model_info"] == anonymous["download"] == "RepositoryNotFoundError"
    assert "alice/secret-clf" in anonymous["from_pretrained"], "transformers refuses it too"
    bob = client("hub-access", "alice/secret-clf", env=hub_env(hub.endpoint, home / "bob", token=BOB_TOKEN))
    assert bob == {"model_info": "RepositoryNotFoundError", "download": "RepositoryNotFoundError"}, "other users too"
    owner = client("hub-access", "alice/secret-clf", env=hub_env(hub.endpoint, home / "owner"))
    assert owner == {"model_info": "ok", "download": "ok"}

    before = digest(run_copy)
    proc = push(run_copy, hub_env(hub.endpoint, home), "--repo-id", "alice/public-clf")
    assert proc.returncode == 0, proc.stderr[-3000:]
    proc = push(run_copy, hub_env(hub.endpoint, home), "--repo-id", "alice/public-clf", "--private")
    assert_one_line_error(proc, "alice/public-clf already exists and is public")
    assert set(digest(run_copy)) == set(before)


@pytest.mark.parametrize(
    "token,message",
    [
        (None, "no Hugging Face token found: set HF_TOKEN or run `hf auth login`"),
        ("hf_wrong_" + "0" * 24, "the Hub rejected the token (401 Unauthorized"),
        (READ_TOKEN, "the token may not write to alice/denied (403 Forbidden"),
        (BOB_TOKEN, "the token may not write to alice/denied (403 Forbidden"),
    ],
    ids=["no-token", "wrong-token", "read-only-token", "other-namespace"],
)
def test_refused_push_is_a_one_line_error(hub, run_copy, home, token, message):
    before = digest(run_copy)
    proc = push(run_copy, hub_env(hub.endpoint, home, token=token), "--repo-id", "alice/denied")
    assert_one_line_error(proc, message, f"retry with: hfrecipes push {run_copy} --repo-id alice/denied")
    assert token is None or token not in proc.stdout + proc.stderr
    assert digest(run_copy) == before and "alice/denied" not in hub.repos


def test_server_down_then_push_succeeds_when_it_is_back(run_copy, tmp_path, home):
    server = HubServer(tmp_path / "storage", USERS)
    server.start()
    port = server.port
    server.stop()
    before = digest(run_copy)
    proc = push(run_copy, hub_env(f"http://127.0.0.1:{port}", home), "--repo-id", "alice/retry")
    assert_one_line_error(proc, f"cannot connect to http://127.0.0.1:{port} (server down or unreachable")
    assert digest(run_copy) == before

    server = HubServer(tmp_path / "storage", USERS)
    server.start(port)
    try:
        proc = push(run_copy, hub_env(server.endpoint, home), "--repo-id", "alice/retry")
        assert proc.returncode == 0, proc.stderr[-3000:]
        assert "model.safetensors" in server.repo_files("alice/retry")
    finally:
        server.stop()


def test_connection_cut_mid_upload(hub, run_copy, home):
    from safetensors.torch import load_file, save_file

    weights = load_file(run_copy / "model.safetensors")  # new weights: the server dedupes LFS objects it has
    save_file({k: v + 1 for k, v in weights.items()}, run_copy / "model.safetensors", metadata={"format": "pt"})
    env = hub_env(hub.endpoint, home)
    before = digest(run_copy)
    hub.cut.update(lfs=1, commit=1)  # the LFS upload is retried by the client; the commit is not
    proc = push(run_copy, env, "--repo-id", "alice/cut")
    assert_one_line_error(proc, f"the connection to {hub.endpoint} was cut during the upload")
    assert hub.cut == {"lfs": 0, "commit": 0} and digest(run_copy) == before
    puts = [p for m, p, _ in hub.log if m == "PUT"]
    assert len(puts) >= 2 and puts[-1] == puts[-2], "the cut LFS upload was sent again"
    assert len(hub.repos["alice/cut"]["commits"]) == 1, "nothing committed"

    proc = push(run_copy, env, "--repo-id", "alice/cut")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert set(hub.repo_files("alice/cut")) >= {"model.safetensors", "config.json", "README.md"}


def test_hub_target_reads_flags_and_refuses_token_flags(tmp_path):
    from transformers import TrainingArguments

    from hfrecipes.errors import UserError
    from hfrecipes.hub import HubArguments, hub_target

    assert hub_target(HubArguments(), tmp_path) is None
    with pytest.raises(UserError, match="--hub_token is not accepted"):
        hub_target(TrainingArguments(output_dir=str(tmp_path), hub_token="hf_x", report_to="none"))
    with pytest.raises(UserError, match="HF_HUB_OFFLINE=1 is set"):  # this test process is offline
        hub_target(HubArguments(push_to_hub=True), tmp_path)


@pytest.mark.parametrize(
    "token,message",
    [(None, "no Hugging Face token found"), ("hf_wrong_" + "1" * 24, "the Hub rejected the token (401")],
    ids=["no-token", "wrong-token"],
)
def test_recipe_checks_the_token_before_training(hub, tmp_path, home, token, message):
    out = tmp_path / "tok"
    env = hub_env(hub.endpoint, home, token=token)
    cmd = [sys.executable, str(ROOT / "recipes" / "train_tokenizer.py"), "--output_dir", str(out), "--push_to_hub"]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT, timeout=120)
    assert_one_line_error(proc, message)
    assert not out.exists(), "stopped before any work"


def test_recipe_whose_push_fails_leaves_a_complete_run_to_push_later(tmp_path, home):
    server = HubServer(tmp_path / "storage", USERS)
    server.start()
    port = server.port
    server.stop()  # down from the start: the token check only warns, training goes on, the push at the end fails
    out = tmp_path / "tok"
    cmd = [sys.executable, str(ROOT / "recipes" / "train_tokenizer.py"), "--vocab_size", "300"]
    cmd += ["--max_train_samples", "200", "--output_dir", str(out), "--push_to_hub", "--hub_model_id", "alice/late"]
    env = hub_env(f"http://127.0.0.1:{port}", home)
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT, timeout=180)
    assert "Could not check the Hub token before training" in proc.stderr
    assert_one_line_error(proc, "cannot connect to", f"retry with: hfrecipes push {out} --repo-id alice/late")
    assert {"tokenizer.json", "results.json", "run_config.yaml", "README.md"} <= {p.name for p in out.iterdir()}

    server = HubServer(tmp_path / "storage", USERS)
    server.start(port)
    try:
        proc = push(out, env)  # repo id and privacy from the run's config
        assert proc.returncode == 0, proc.stderr[-3000:]
        assert "tokenizer.json" in server.repo_files("alice/late")
    finally:
        server.stop()
