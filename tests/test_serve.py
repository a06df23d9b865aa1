"""`transformers serve` and `transformers chat` on the folders our recipes write: pretrain, SFT and merged LoRA.

One server on 127.0.0.1 serves all three folders, each named by its path in the request's `model` field; every
answer is checked against `model.generate` run here on the same folder.
"""

import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from conftest import load_recipe

pytestmark = pytest.mark.slow

QUESTION = [{"role": "user", "content": "What does the function `json.dumps` do?"}]
FOLDERS = ["pretrain", "sft", "merged"]


def tiny_sft(model, out, *extra):
    # fmt: off
    return ["--model_name_or_path", str(model), "--max_train_samples", "16", "--max_eval_samples", "8",
            "--max_steps", "2", "--per_device_train_batch_size", "8", "--per_device_eval_batch_size", "8",
            "--report_to", "none", "--output_dir", str(out), *extra]
    # fmt: on


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until_healthy(url: str, proc: subprocess.Popen, log: Path, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"transformers serve exited ({proc.returncode}):\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=5) as response:
                if response.status == 200:
                    return
        except OSError:  # not listening yet
            time.sleep(0.25)
    raise AssertionError(f"transformers serve did not answer /health in {timeout} s:\n{log.read_text()[-3000:]}")


@pytest.fixture(scope="module")
def served(tiny_lm, tmp_path_factory):
    """(base url, folders): the server starts first, so that it boots while the SFT folders train."""
    root = tmp_path_factory.mktemp("serve")
    port, log = free_port(), root / "serve.log"
    # An empty HF_HOME: /v1/models lists the cache, and nothing of the user's may leak in. No update check on PyPI.
    env = {**os.environ, "HF_HOME": str(root / "hf_home"), "HF_HUB_DISABLE_UPDATE_CHECK": "1"}
    cmd = [sys.executable, "-m", "transformers.cli.transformers", "serve"]
    cmd += ["--host", "127.0.0.1", "--port", str(port), "--device", "cpu"]
    with open(log, "w") as f:
        proc = subprocess.Popen(cmd, stdout=f, stderr=subprocess.STDOUT, env=env)
    try:
        load_recipe("sft").main(tiny_sft(tiny_lm, root / "sft"))
        lora = ["--use_peft", "--lora_r", "4", "--lora_target_modules", "c_attn", "--merge_adapter"]
        load_recipe("sft").main(tiny_sft(tiny_lm, root / "merged", *lora))
        url = f"http://127.0.0.1:{port}"
        wait_until_healthy(url, proc, log)
        yield url, {"pretrain": tiny_lm, "sft": root / "sft", "merged": root / "merged"}
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="module")
def client(served):
    from openai import OpenAI

    return OpenAI(base_url=f"{served[0]}/v1", api_key="unused", max_retries=0, timeout=120)


def local_generate(folder: Path, max_new_tokens: int, messages=None, prompt=None, seed=None):
    """What the server should answer: `generate` here on the same folder, prompt and settings."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForCausalLM.from_pretrained(folder)
    if messages is not None:
        inputs = tokenizer.apply_chat_template(
            messages, add_generation_prompt=True, return_dict=True, return_tensors="pt"
        )
    else:
        inputs = tokenizer(prompt, return_tensors="pt")
    if seed is not None:
        torch.manual_seed(seed)
    with torch.no_grad():
        sampling = {"do_sample": True, "temperature": 1.0} if seed is not None else {"do_sample": False}
        out = model.generate(**inputs, max_new_tokens=max_new_tokens, **sampling)
    new = out[0, inputs["input_ids"].shape[1] :]
    return tokenizer.decode(new, skip_special_tokens=True), inputs["input_ids"].shape[1], len(new)


@pytest.mark.parametrize("name", FOLDERS)
def test_chat_completion_answers_what_generate_answers(served, client, name):
    folder = str(served[1][name])
    reply = client.chat.completions.create(model=folder, messages=QUESTION, max_tokens=8, temperature=0)
    text, prompt_tokens, new_tokens = local_generate(folder, 8, messages=QUESTION)
    answer = reply.choices[0]
    assert reply.model == folder and answer.message.role == "assistant"
    assert isinstance(answer.message.content, str) and answer.message.content, "a non-empty reply"
    assert answer.message.content == text, "greedy: the tokens model.generate picks, through the chat template"
    assert reply.usage.prompt_tokens == prompt_tokens and reply.usage.completion_tokens == new_tokens
    assert answer.finish_reason == ("length" if new_tokens == 8 else "stop")

    stream = client.chat.completions.create(model=folder, messages=QUESTION, max_tokens=8, temperature=0, stream=True)
    chunks = list(stream)
    assert {chunk.model for chunk in chunks} == {folder}
    assert "".join(chunk.choices[0].delta.content or "" for chunk in chunks if chunk.choices) == text
    assert folder in [model.id for model in client.models.list()], "/v1/models lists the loaded folder"


def test_sampled_reply_follows_the_seed(served, client):
    folder = str(served[1]["sft"])
    # The server samples only when the generation config says do_sample (temperature alone does not); ours has none
    sampling = {"generation_config": json.dumps({"do_sample": True})}
    ask = dict(model=folder, messages=QUESTION, max_tokens=12, temperature=1.0, seed=7, extra_body=sampling)
    first, second = (client.chat.completions.create(**ask).choices[0].message.content for _ in range(2))
    assert first == second == local_generate(folder, 12, messages=QUESTION, seed=7)[0]
    assert first.strip(), "sampled, the tiny model writes more than the indentation greedy decoding gives"


def test_completion_continues_a_prompt(served, client):
    """A plain LM (pretrain) is used through /v1/completions too: the prompt is continued, no chat template."""
    folder = str(served[1]["pretrain"])
    reply = client.completions.create(model=folder, prompt="import json\n", max_tokens=8, temperature=0)
    assert reply.model == folder and reply.choices[0].text == local_generate(folder, 8, prompt="import json\n")[0]


def test_transformers_chat(served, tmp_path):
    """`transformers chat` reads its turns from stdin, so it runs without a terminal."""
    url, folders = served
    # Offline mode makes huggingface_hub refuse every request, the loopback one to our server included.
    env = {k: v for k, v in os.environ.items() if k != "HF_HUB_OFFLINE"}
    env |= {"HF_HOME": str(tmp_path / "hf_home"), "HF_HUB_DISABLE_UPDATE_CHECK": "1", "COLUMNS": "200"}
    cmd = [sys.executable, "-m", "transformers.cli.transformers", "chat", str(folders["sft"]), url]
    cmd += ["max_new_tokens=8", "do_sample=False", "--user", "me", "--save-folder", str(tmp_path)]
    # The question, "n" to "Continue generating?" (8 tokens hit the limit), then !exit (spares if it stopped sooner)
    turns = "What does the function `json.dumps` do?\nn\n!exit\n!exit\n!exit\n"
    proc = subprocess.run(cmd, input=turns, capture_output=True, text=True, timeout=120, env=env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    assert f"<{folders['sft']}>:" in proc.stdout, "the reply's header"
    assert re.search(r"\b[1-8] tokens in [0-9.]+s", proc.stdout), "the usage the server sent back"
