"""Every recipe on what users bring from the Hub: stand-ins of real models and datasets (tests/standins.py), served
under their real ids by the loopback Hub (conftest ``standin_hub``), run through ``accelerate launch``.

Each check is on the result, not only on the exit status: label masks, the EOS learned and where generation stops,
no token id past the embedding, the logits of a pushed model, one-line errors for every Hub failure.
"""

import contextlib
import io
import json
import secrets
import subprocess
import sys

import pytest
from conftest import ROOT, launch, load_recipe
from standins import ALPACA, FINEWEB_EDU, GATED_DATASET, GATED_MODEL, GLUE, GPT2, LLAMA32, QWEN25, SMOLLM2, ULTRACHAT
from test_sft import CHATS

pytestmark = pytest.mark.slow
WRITER = f"hf_alice_{secrets.token_hex(16)}"
TINY = ["--per_device_train_batch_size", "4", "--per_device_eval_batch_size", "8", "--report_to", "none"]
TINY += ["--logging_steps", "1", "--learning_rate", "1e-3"]
TINY_SFT = [*TINY, "--max_train_samples", "16", "--max_eval_samples", "8", "--max_steps", "3", "--max_length", "192"]
# The token each stand-in's chat template ends an assistant turn with: SFT makes it the EOS.
TURN_END = {GPT2: "<|im_end|>", SMOLLM2: "<|im_end|>", QWEN25: "<|im_end|>", LLAMA32: "<|eot_id|>"}


@pytest.fixture(scope="module")
def hub(standin_hub):
    standin_hub.server.tokens[WRITER] = ("alice", "write")
    return standin_hub


@pytest.fixture(scope="module")
def env(hub, tmp_path_factory):
    """One HF_HOME for the module, as a user's cache: each stand-in downloads once."""
    return hub.env(tmp_path_factory.mktemp("hf_home"), token=WRITER)


def read(path):
    return json.loads(path.read_text(encoding="utf-8"))


def client(check: str, *args: str, env: dict) -> dict:
    proc = subprocess.run(
        [sys.executable, str(ROOT / "tests" / "hub_client.py"), check, *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def hfrecipes(*args: str, env: dict) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "hfrecipes.cli", *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT, timeout=300)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return proc


def embedding_rows(folder, weights: str = "model.safetensors") -> int:
    from safetensors import safe_open

    with safe_open(str(folder / weights), "pt") as f:
        shapes = {k: f.get_slice(k).get_shape() for k in f.keys()}
    return next(shape[0] for name, shape in shapes.items() if name.endswith(("wte.weight", "embed_tokens.weight")))


# --- classification: GPT-2 (no pad token, no spare rows) and Llama 3.2 (left padding), on nyu-mll/glue sst2


@pytest.mark.parametrize("model,padding", [(GPT2, "right"), (LLAMA32, "left")])
def test_classify_hub_model_on_hub_glue(model, padding, hub, env, tmp_path):
    out = tmp_path / "classify"
    repo = f"alice/{model.split('/')[1]}-sst2"
    push = ["--push_to_hub", "--hub_model_id", repo] if model == GPT2 else []
    launch(
        "classify",
        *["--model_name_or_path", model, "--task_name", "sst2", "--padding_side", padding, *TINY],
        *["--max_train_samples", "64", "--max_eval_samples", "32", "--max_predict_samples", "16", "--max_steps", "4"],
        *["--output_dir", str(out), *push],
        env=env,
    )
    results = read(out / "results.json")
    assert results["task"] == "sst2" and results["label_names"] == ["negative", "positive"]  # from the ClassLabel
    assert results["eval_samples"] == 32 and results["train_steps"] == 4
    assert results["eval_accuracy"] * 32 == pytest.approx(round(results["eval_accuracy"] * 32))
    config, tokenizer = read(out / "config.json"), read(out / "tokenizer_config.json")
    assert tokenizer["pad_token"] == "<|pad|>"  # added: the real tokenizer has none
    assert config["pad_token_id"] < embedding_rows(out)  # the embedding grew to cover it
    assert config["id2label"] == {"0": "negative", "1": "positive"}
    assert (out / "test_predictions.tsv").is_file() or results["prediction_files"]
    if push:
        report = client("classifier", repo, str(out), env=env)
        assert report["same_token_ids"] and report["max_abs_logit_diff"] < 1e-5
        assert {p["label"] for p in report["predictions"]} <= {"negative", "positive"}


@pytest.mark.parametrize("model,pooling", [(LLAMA32, "last"), (QWEN25, "mean")])
def test_frozen_embeddings_of_hub_models_stay_as_on_the_hub(model, pooling, hub, env, tmp_path):
    """--freeze_embeddings on Llama 3.2 (no pad token: the table grows a row) and Qwen2.5 (mean pooling): every row
    the Hub model had is saved as it was there, while the blocks trained."""
    from safetensors.torch import load_file

    out = tmp_path / "frozen"
    launch(
        "classify",
        *["--model_name_or_path", model, "--task_name", "sst2", "--pooling", pooling, *TINY],
        *["--max_train_samples", "64", "--max_eval_samples", "32", "--max_steps", "4", "--learning_rate", "1e-2"],
        *["--freeze_embeddings", "true", "--output_dir", str(out)],
        env=env,
    )
    hub_weights = load_file(str(hub.seeded["models"][model] / "model.safetensors"))
    tuned = load_file(str(out / "model.safetensors"))
    table = "model.embed_tokens.weight"
    rows = hub_weights[table].shape[0]
    assert tuned[table][:rows].equal(hub_weights[table].to(tuned[table].dtype))
    block = "model.layers.0.mlp.gate_proj.weight"
    assert not tuned[block].equal(hub_weights[block].to(tuned[block].dtype))


# --- SFT: each chat model with its own template, and GPT-2 with none (ChatML cloned in)


def test_sft_qwen_on_ultrachat_splits_then_push_and_reload(hub, env, tmp_path):
    out = tmp_path / "sft-qwen"
    launch(
        "sft",
        *["--model_name_or_path", QWEN25, "--dataset_name", ULTRACHAT, *TINY_SFT, "--output_dir", str(out)],
        *["--dataset_train_split", "train_sft", "--dataset_eval_split", "test_sft"],
        *["--push_to_hub", "--hub_model_id", "alice/qwen-sft"],
        env=env,
    )
    results = read(out / "results.json")
    assert results["train_steps"] == 3 and results["eval_loss"] > 0 and results["eval_loss_before"] > 0
    tokenizer, generation = read(out / "tokenizer_config.json"), read(out / "generation_config.json")
    assert tokenizer["eos_token"] == "<|im_end|>" and tokenizer["pad_token"] == "<|endoftext|>"  # Qwen's own
    eos = generation["eos_token_id"]
    assert 1002 in (eos if isinstance(eos, list) else [eos])  # <|im_end|> of the stand-in
    assert embedding_rows(out) == 1280  # the spare rows are kept, nothing resized
    report = client("causal-lm", "alice/qwen-sft", str(out), env=env)
    assert report["same_token_ids"] and report["max_abs_logit_diff"] < 1e-5


@pytest.mark.parametrize(
    "model,dataset,extra",
    [
        (SMOLLM2, ALPACA, ["--use_peft", "--lora_r", "4", "--merge_adapter"]),
        (QWEN25, ALPACA, ["--use_peft", "--lora_r", "4"]),
        (LLAMA32, ULTRACHAT, ["--use_peft", "--lora_r", "4", "--dataset_train_split", "train_sft"]),
        (LLAMA32, ALPACA, []),
        (GPT2, ALPACA, []),
        (GPT2, ALPACA, ["--use_peft", "--lora_r", "4"]),
    ],
    ids=[
        "smollm2-lora-merged",
        "qwen-lora-adapter",
        "llama-lora-adapter",
        "llama-full",
        "gpt2-base-full",
        "gpt2-base-lora",
    ],
)
def test_sft_on_hub_models_and_chat(model, dataset, extra, hub, env, tmp_path):
    out = tmp_path / "sft"
    args = ["--model_name_or_path", model, "--dataset_name", dataset, *TINY_SFT, *extra, "--output_dir", str(out)]
    launch("sft", *args, env=env)
    results = read(out / "results.json")
    assert results["train_steps"] == 3 and results["eval_loss"] > 0
    tokenizer = read(out / "tokenizer_config.json")
    assert tokenizer["eos_token"] == TURN_END[model]
    if model == GPT2:  # no template: ChatML cloned in, its tokens added, the embedding resized to cover them
        assert (out / "chat_template.jinja").read_text().startswith("{% for message in messages %}")
        eos_id = next(t["id"] for t in read(out / "tokenizer.json")["added_tokens"] if t["content"] == "<|im_end|>")
        if "--use_peft" in extra:  # the grown embedding and head trained and saved with the adapter
            assert "wte" in read(out / "adapter_config.json")["modules_to_save"]
            assert embedding_rows(out, "adapter_model.safetensors") > 957
        else:
            assert embedding_rows(out) > eos_id and embedding_rows(out) > 957  # the real GPT-2 has no spare row
    if "--use_peft" in extra:
        adapter = out / "adapter" if "--merge_adapter" in extra else out
        assert read(adapter / "adapter_config.json")["base_model_name_or_path"] == model
    if (out / "adapter_config.json").is_file() or model == GPT2:
        # chat with the result, through the positional folder argument (an adapter folder loads its base from the
        # Hub; GPT-2's grows it for the ChatML tokens first)
        proc = hfrecipes("generate", str(out), "--prompt", "What is Python?", "--max_new_tokens", "5", env=env)
        assert proc.stdout.startswith("user: What is Python?\nassistant:"), proc.stdout


# --- continued pretraining on a streamed Hub corpus


@pytest.mark.parametrize("model,streaming", [(GPT2, True), (LLAMA32, False)])
def test_continued_pretraining(model, streaming, hub, env, tmp_path):
    out = tmp_path / "continued"
    data = ["--dataset_name", FINEWEB_EDU, "--dataset_config", "sample-10BT", "--max_eval_samples", "8"]
    data += ["--streaming"] if streaming else ["--max_train_samples", "64"]
    launch(
        "pretrain", "--model_name_or_path", model, *data, *TINY, "--max_steps", "3", "--output_dir", str(out), env=env
    )
    results = read(out / "results.json")
    assert results["train_steps"] == 3 and results["eval_loss"] > 0 and results["eval_bits_per_byte"] > 0
    assert read(out / "config.json")["architectures"] == ["GPT2LMHeadModel" if model == GPT2 else "LlamaForCausalLM"]
    assert f"base_model: {model}" in (out / "README.md").read_text()
    proc = hfrecipes("generate", str(out), "--prompt", "The", "--max_new_tokens", "4", "--chat", "false", env=env)
    assert proc.stdout.startswith("The")


# --- in-process, on the stand-in folders: what SFT learns and where generation stops


@pytest.mark.parametrize("model", [GPT2, SMOLLM2, QWEN25, LLAMA32])
def test_labels_are_the_assistant_turns_and_their_eos(model, hub, tmp_path):
    from datasets import Dataset, DatasetDict
    from trl import SFTConfig, SFTTrainer

    from hfrecipes.chat import prepare_chat_training
    from hfrecipes.modeling import PretrainedModelArguments, load_causal_lm, load_tokenizer

    folder = str(hub.seeded["models"][model])
    tokenizer = load_tokenizer(folder, add_pad=False)
    lm = load_causal_lm(PretrainedModelArguments(model_name_or_path=folder), tokenizer=tokenizer)
    args = SFTConfig(output_dir=str(tmp_path), assistant_only_loss=True, report_to="none", max_length=256, bf16=False)
    raw = DatasetDict({"train": Dataset.from_dict({"messages": CHATS})})
    lm, data = prepare_chat_training(lm, tokenizer, args, raw, folder)
    trainer = SFTTrainer(model=lm, args=args, train_dataset=data["train"], processing_class=tokenizer)
    batch = trainer.data_collator([trainer.train_dataset[i] for i in range(len(trainer.train_dataset))])
    assert tokenizer.eos_token == TURN_END[model]
    assert int(batch["input_ids"].max()) < lm.get_input_embeddings().num_embeddings
    learned = "".join(
        tokenizer.decode([int(i) for i, label in zip(ids, labels, strict=True) if label != -100])
        for ids, labels in zip(batch["input_ids"], batch["labels"], strict=True)
    )
    expected = "".join(m["content"] + TURN_END[model] for chat in CHATS for m in chat if m["role"] == "assistant")
    assert "".join(learned.split()) == "".join(expected.split())  # every answer and its EOS; no prompt, no system


@pytest.mark.parametrize("model", [GPT2, LLAMA32])
def test_sft_learns_to_stop_at_its_eos(model, hub, tmp_path):
    """80 steps on one chat (40 left the Llama stand-in one token short): greedy generation gives the answer and stops
    at the EOS (for GPT-2, a token it did not
    have before SFT)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from hfrecipes.generation import generate_ids

    chats = tmp_path / "ping.jsonl"
    row = {"messages": [{"role": "user", "content": "ping"}, {"role": "assistant", "content": "pong pong"}]}
    chats.write_text((json.dumps(row) + "\n") * 64)
    out = tmp_path / "out"
    load_recipe("sft").main(
        [
            *["--model_name_or_path", str(hub.seeded["models"][model]), "--train_file", str(chats)],
            *["--validation_split_percentage", "0", "--max_steps", "80", "--per_device_train_batch_size", "8"],
            *["--learning_rate", "1e-2", "--warmup_steps", "0", "--max_length", "160", "--report_to", "none"],
            *["--sample_prompt", "ping", "--output_dir", str(out)],
        ]
    )
    tokenizer, lm = AutoTokenizer.from_pretrained(out), AutoModelForCausalLM.from_pretrained(out)
    prompt = tokenizer.apply_chat_template([{"role": "user", "content": "ping"}], add_generation_prompt=True)
    prompt = prompt["input_ids"] if hasattr(prompt, "keys") else prompt
    _, new = generate_ids(lm, tokenizer, list(prompt), max_new_tokens=20, temperature=0)
    assert tokenizer.decode(new, skip_special_tokens=True).strip() == "pong pong"
    assert new[-1] == tokenizer.convert_tokens_to_ids(TURN_END[model]) and len(new) < 20
    assert read(out / "results.json")["sample"] == "pong pong"


# --- every Hub failure is one line naming the id and the fix

ERRORS = """
import contextlib, io, json, sys
sys.path.insert(0, "tests")
from conftest import load_recipe
from hfrecipes.config import cli_main
report = {}
for name, recipe, args in json.loads(sys.argv[1]):
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        try:
            cli_main(lambda: load_recipe(recipe).main(args))
            code = 0
        except SystemExit as e:
            code = e.code
        except BaseException as e:
            code, err = "traceback", io.StringIO(repr(e))
    report[name] = [code, [line for line in err.getvalue().splitlines() if line.startswith("error:")]]
print(json.dumps(report))
"""


def test_hub_failures_are_one_line_errors(hub, tmp_path):
    script = tmp_path / "script-dataset"
    script.mkdir()
    (script / "script-dataset.py").write_text("import datasets\n")
    (script / "README.md").write_text("---\nlicense: mit\n---\n# A dataset with a loading script\n")
    hub.server.add_folder("someone/script-dataset", script, repo_type="dataset")
    out = ["--output_dir", str(tmp_path / "out")]
    cases = {  # name: (recipe, args, words the one line must hold)
        "missing model": (
            "sft",
            ["--model_name_or_path", "nobody/no-such-model"],
            ["nobody/no-such-model", "check the id"],
        ),
        "gated model": ("sft", ["--model_name_or_path", GATED_MODEL], [GATED_MODEL, "gated", "log in"]),
        "missing revision": ("sft", ["--model_name_or_path", GPT2, "--model_revision", "v9"], [GPT2, "revision 'v9'"]),
        "missing dataset": ("sft", ["--model_name_or_path", QWEN25, "--dataset_name", "nobody/none"], ["nobody/none"]),
        "missing split": (
            "sft",
            ["--model_name_or_path", QWEN25, "--dataset_name", ULTRACHAT],
            ["train_sft", "--dataset_train_split"],
        ),
        "missing config": (
            "pretrain",
            ["--model_name_or_path", GPT2, "--dataset_name", FINEWEB_EDU, "--dataset_config", "sample-1T"],
            [FINEWEB_EDU, "sample-1T", "--dataset_config"],
        ),
        "gated dataset": (
            "sft",
            ["--model_name_or_path", QWEN25, "--dataset_name", GATED_DATASET],
            [GATED_DATASET, "gated"],
        ),
        "script dataset": (
            "sft",
            ["--model_name_or_path", QWEN25, "--dataset_name", "someone/script-dataset"],
            ["loading script"],
        ),
        "shape flag": ("pretrain", ["--model_name_or_path", GPT2, "--n_layer", "2"], ["n_layer", GPT2]),
        "missing GLUE config": ("classify", ["--model_name_or_path", GPT2, "--task_name", "qnli"], [GLUE, "qnli"]),
    }
    offline = {"offline": ("sft", ["--model_name_or_path", QWEN25], [QWEN25, "HF_HUB_OFFLINE=1", "cannot reach"])}
    for group, env in (
        (cases, hub.env(tmp_path / "home")),
        (offline, hub.env(tmp_path / "empty", HF_HUB_OFFLINE="1")),
    ):
        payload = json.dumps([[name, recipe, [*args, *out]] for name, (recipe, args, _) in group.items()])
        proc = subprocess.run(
            [sys.executable, "-c", ERRORS, payload], capture_output=True, text=True, env=env, cwd=ROOT, timeout=300
        )
        assert proc.returncode == 0, proc.stderr[-3000:]
        report = json.loads(proc.stdout.strip().splitlines()[-1])
        for name, (_, _, words) in group.items():
            code, lines = report[name]
            assert code == 2 and len(lines) == 1, (name, code, lines)
            assert all(w in lines[0] for w in words), (name, lines[0])
    assert not (tmp_path / "out" / "results.json").exists()


def test_stream_packing_gives_the_same_blocks_on_every_pass(tiny_tokenizer):
    from datasets import Dataset
    from transformers import AutoTokenizer

    from hfrecipes.data import pack_dataset

    texts = [f"Document {i}: " + "word " * (i % 7 + 3) for i in range(300)]
    stream = Dataset.from_dict({"text": texts}).to_iterable_dataset()
    packed = pack_dataset(stream, AutoTokenizer.from_pretrained(tiny_tokenizer), 16, batch_size=32)
    first, second = [r["input_ids"] for r in packed], [r["input_ids"] for r in packed]
    assert first == second and len(first) > 10 and all(len(b) == 16 for b in first)


def test_stray_arguments_are_errors_and_generate_takes_the_folder(tiny_lm, capsys):
    from hfrecipes.errors import UserError

    with pytest.raises(UserError, match="unexpected argument 'extra'"):
        load_recipe("pretrain").main(["--max_steps", "1", "extra"])
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        load_recipe("generate").main([str(tiny_lm), "--prompt", "def", "--max_new_tokens", "3", "--chat", "false"])
    assert buffer.getvalue().startswith("def")
