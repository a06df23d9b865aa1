"""Client-side checks run in a subprocess whose HF_ENDPOINT points at the test Hub server (see test_hub.py).

huggingface_hub reads HF_ENDPOINT when it is imported, so these run in their own process:

    python tests/hub_client.py causal-lm REPO_ID LOCAL_DIR   # logits, tokenizer and generation vs the local folder
    python tests/hub_client.py classifier REPO_ID LOCAL_DIR  # the same through pipeline("text-classification")
    python tests/hub_client.py access REPO_ID                # what this process's token (or none) may read
    python tests/hub_client.py hub-access REPO_ID            # the same through huggingface_hub only (faster)

The last line of stdout is a JSON report.
"""

import json
import os
import re
import sys

TEXTS = ["def add(a, b):\n    return a + b", "The tokenizer splits text into tokens."]


def _compare(auto_class, repo_id: str, local_dir: str) -> dict:
    import torch
    from transformers import AutoTokenizer

    remote_tok, local_tok = AutoTokenizer.from_pretrained(repo_id), AutoTokenizer.from_pretrained(local_dir)
    remote, local = auto_class.from_pretrained(repo_id).eval(), auto_class.from_pretrained(local_dir).eval()
    batch = local_tok(TEXTS, return_tensors="pt", padding=True)
    with torch.no_grad():
        diff = (remote(**batch).logits - local(**batch).logits).abs().max().item()
    return {
        "same_token_ids": remote_tok(TEXTS)["input_ids"] == local_tok(TEXTS)["input_ids"],
        "max_abs_logit_diff": diff,
    }


def _run_card_snippet(repo_id: str) -> str:
    """Executes the python block of the pushed model card, as a user would copy it; returns what it printed."""
    import contextlib
    import io

    from huggingface_hub import hf_hub_download

    card = open(hf_hub_download(repo_id, "README.md"), encoding="utf-8").read()
    code = re.search(r"```python\n(.*?)```", card, flags=re.S).group(1)
    assert repo_id in code, code
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(code, "README.md", "exec"), {})
    return printed.getvalue()


def causal_lm(repo_id: str, local_dir: str) -> dict:
    from transformers import AutoModelForCausalLM, pipeline

    report = _compare(AutoModelForCausalLM, repo_id, local_dir)
    generator = pipeline("text-generation", model=repo_id)
    prompt = "def add"
    out = generator(prompt, max_new_tokens=8, do_sample=False)[0]["generated_text"]
    report.update(prompt=prompt, generated=out, snippet_output=_run_card_snippet(repo_id))
    return report


def classifier(repo_id: str, local_dir: str) -> dict:
    from transformers import AutoModelForSequenceClassification, pipeline

    report = _compare(AutoModelForSequenceClassification, repo_id, local_dir)
    classify = pipeline("text-classification", model=repo_id)
    report.update(predictions=classify(TEXTS), snippet_output=_run_card_snippet(repo_id))
    return report


def access(repo_id: str, with_transformers: bool = True) -> dict:
    """What this process's credentials get from the repo: "ok" or the error, per kind of call."""
    from huggingface_hub import HfApi, hf_hub_download

    report = {}
    for name, call in {
        "model_info": lambda: HfApi().model_info(repo_id),
        "download": lambda: hf_hub_download(repo_id, "config.json"),
    }.items():
        try:
            call()
            report[name] = "ok"
        except Exception as err:
            report[name] = type(err).__name__
    if not with_transformers:
        return report
    try:
        from transformers import AutoConfig

        AutoConfig.from_pretrained(repo_id)
        report["from_pretrained"] = "ok"
    except OSError as err:
        report["from_pretrained"] = str(err).splitlines()[0]
    return report


if __name__ == "__main__":
    assert os.environ.get("HF_ENDPOINT", "").startswith("http://127.0.0.1:"), "tests only talk to the loopback server"
    check, *args = sys.argv[1:]
    checks = {"causal-lm": causal_lm, "classifier": classifier, "access": access}
    checks["hub-access"] = lambda repo_id: access(repo_id, with_transformers=False)
    result = checks[check](*args)
    print(json.dumps(result, default=str))
