"""Client-side checks of the stand-ins (tests/standins.py), run in a subprocess pointed at the loopback Hub server.

huggingface_hub reads HF_ENDPOINT and the offline flags when imported, so these run in their own process:

    python tests/standins_client.py online             # models, datasets (streaming too), errors of missing things
    python tests/standins_client.py offline CACHE_DIR   # HF_HUB_OFFLINE=1: errors on an empty cache; CACHE_DIR loads

``online`` also tries the gated repos with the tokens in STANDINS_READER_TOKEN (no access) and STANDINS_GRANTED_TOKEN.

The last line of stdout is a JSON report.
"""

import json
import os
import sys
import warnings

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from standins import ALPACA, DATASETS, FINEWEB_EDU, GATED_DATASET, GATED_MODEL, GLUE, GPT2, MODELS, ULTRACHAT  # noqa: E402

CHAT = [{"role": "user", "content": "Hi"}]
SPLITS = {  # (repo, config) -> splits to load
    (GLUE, "sst2"): ["train", "validation", "test"],
    (GLUE, "stsb"): ["train"],
    (FINEWEB_EDU, "sample-10BT"): ["train"],
    (FINEWEB_EDU, None): ["train"],
    (ULTRACHAT, None): ["train_sft", "test_sft"],
    (ALPACA, None): ["train"],
}


def _error(call) -> dict:
    """The exception a call raises, as the user sees it: class, module and first line of the message."""
    try:
        call()
    except Exception as err:
        lines = str(err).strip().splitlines() or [""]
        return {"type": type(err).__name__, "module": type(err).__module__, "message": lines[0], "full": str(err)}
    return {"type": None}


def check_model(repo_id: str) -> dict:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(repo_id)
    model = AutoModelForCausalLM.from_pretrained(repo_id).eval()
    config, generation = model.config, model.generation_config
    embeddings = model.get_input_embeddings().weight
    report = {
        "tokenizer_class": type(tok).__name__,
        "model_class": type(model).__name__,
        "dtype": str(model.dtype),
        "len_tokenizer": len(tok),
        "embedding_rows": embeddings.shape[0],
        "config_vocab_size": config.vocab_size,
        "tied": model.get_output_embeddings().weight.data_ptr() == embeddings.data_ptr(),
        "special": {k: getattr(tok, k) for k in ("bos_token", "eos_token", "pad_token", "unk_token")},
        "special_ids": {k: getattr(tok, k) for k in ("bos_token_id", "eos_token_id", "pad_token_id")},
        "model_max_length": tok.model_max_length,
        "max_positions": getattr(config, "n_positions", None) or getattr(config, "max_position_embeddings", None),
        "config_eos": config.eos_token_id,
        "config_bos": config.bos_token_id,
        "config_pad": config.pad_token_id,
        "generation_eos": generation.eos_token_id,
        "generation_pad": generation.pad_token_id,
        "generation_do_sample": generation.do_sample,
        "has_chat_template": tok.chat_template is not None,
        "encodes_bos": tok("Hello")["input_ids"][0] == tok.bos_token_id,
    }
    if tok.chat_template is not None:
        report["chat"] = tok.apply_chat_template(CHAT, tokenize=False, add_generation_prompt=True)
        system = [{"role": "system", "content": "Be brief."}, *CHAT]
        report["chat_with_system"] = tok.apply_chat_template(system, tokenize=False, add_generation_prompt=True)
    batch = tok(["def add(a, b):", "Hello"], return_tensors="pt", padding=True) if tok.pad_token else None
    inputs = batch or tok("def add(a, b):", return_tensors="pt")
    with torch.no_grad():
        out = model.generate(
            **inputs, max_new_tokens=6, do_sample=False, pad_token_id=tok.pad_token_id or tok.eos_token_id
        )
    report["new_tokens"] = out.shape[1] - inputs["input_ids"].shape[1]
    report["generated"] = tok.decode(out[0], skip_special_tokens=False)
    return report


def check_dataset(repo_id: str, config: str | None, split: str) -> dict:
    from datasets import ClassLabel, load_dataset

    ds = load_dataset(repo_id, config, split=split)
    stream = load_dataset(repo_id, config, split=split, streaming=True)
    first = next(iter(stream))
    label = ds.features.get("label")
    return {
        "num_rows": ds.num_rows,
        "columns": ds.column_names,
        "features": {k: repr(v) for k, v in ds.features.items()},
        "label_names": label.names if isinstance(label, ClassLabel) else None,
        "labels": sorted(set(ds["label"])) if "label" in ds.column_names else None,
        "first": {k: v for k, v in ds[0].items() if k != "text"},
        "stream_first_equal": first == ds[0],
        "stream_features_equal": stream.features == ds.features,
    }


def online() -> dict:
    import datasets
    from huggingface_hub import HfApi, hf_hub_download

    datasets.disable_progress_bars()
    warnings.simplefilter("ignore")
    report = {"models": {r: check_model(r) for r in MODELS}, "datasets": {}}
    for (repo_id, config), splits in SPLITS.items():
        for split in splits:
            report["datasets"][f"{repo_id}/{config or 'default'}/{split}"] = check_dataset(repo_id, config, split)
    report["glue_configs"] = datasets.get_dataset_config_names(GLUE)
    report["fineweb_configs"] = datasets.get_dataset_config_names(FINEWEB_EDU)
    report["dataset_infos"] = {r: HfApi().dataset_info(r).card_data is not None for r in DATASETS}
    from transformers import AutoConfig, AutoTokenizer

    load = datasets.load_dataset
    report["errors"] = {
        "model_missing_repo": _error(lambda: AutoTokenizer.from_pretrained("openai-community/no-such-model")),
        "model_missing_revision": _error(lambda: AutoConfig.from_pretrained(GPT2, revision="v9.9")),
        "model_missing_file": _error(lambda: hf_hub_download(GPT2, "no_such_file.json")),
        "model_gated": _error(lambda: AutoConfig.from_pretrained(GATED_MODEL)),
        "hub_missing_repo": _error(lambda: HfApi().model_info("openai-community/no-such-model")),
        "hub_missing_revision": _error(lambda: HfApi().model_info(GPT2, revision="v9.9")),
        "hub_gated": _error(lambda: hf_hub_download(GATED_MODEL, "config.json")),
        "dataset_missing_repo": _error(lambda: load("nyu-mll/no-such-dataset")),
        "dataset_missing_revision": _error(lambda: load(GLUE, "sst2", revision="v9.9")),
        "dataset_missing_config": _error(lambda: load(GLUE, "no_such_config")),
        "dataset_config_required": _error(lambda: load(GLUE)),
        "dataset_missing_split": _error(lambda: load(GLUE, "sst2", split="dev")),
        "dataset_missing_split_streaming": _error(lambda: load(GLUE, "sst2", split="dev", streaming=True)),
        "dataset_gated": _error(lambda: load(GATED_DATASET)),
    }
    reader, granted = os.environ.get("STANDINS_READER_TOKEN"), os.environ.get("STANDINS_GRANTED_TOKEN")
    if reader and granted:
        report["errors"].update(
            model_gated_not_granted=_error(lambda: AutoConfig.from_pretrained(GATED_MODEL, token=reader)),
            hub_gated_not_granted=_error(lambda: hf_hub_download(GATED_MODEL, "config.json", token=reader)),
            dataset_gated_not_granted=_error(lambda: load(GATED_DATASET, token=reader)),
            model_gated_granted=_error(lambda: AutoConfig.from_pretrained(GATED_MODEL, token=granted)),
            dataset_gated_granted=_error(lambda: load(GATED_DATASET, split="train", token=granted)),
        )
    return report


def offline(cache_dir: str) -> dict:
    """HF_HUB_OFFLINE=1: what a user without network gets, with an empty cache and with a warm one."""
    import datasets
    from transformers import AutoModelForCausalLM, AutoTokenizer

    datasets.disable_progress_bars()
    warnings.simplefilter("ignore")
    hub_cache, datasets_cache = os.path.join(cache_dir, "hub"), os.path.join(cache_dir, "datasets")
    return {
        "model_empty_cache": _error(lambda: AutoTokenizer.from_pretrained(GPT2)),
        "dataset_empty_cache": _error(lambda: datasets.load_dataset(GLUE, "sst2", split="train")),
        "model_warm_cache": _error(lambda: AutoModelForCausalLM.from_pretrained(GPT2, cache_dir=hub_cache)),
        "dataset_warm_cache": _error(
            lambda: datasets.load_dataset(GLUE, "sst2", split="train", cache_dir=datasets_cache)
        ),
    }


if __name__ == "__main__":
    assert os.environ.get("HF_ENDPOINT", "").startswith("http://127.0.0.1:"), "tests only talk to the loopback server"
    check, *args = sys.argv[1:]
    result = {"online": online, "offline": offline}[check](*args)
    print(json.dumps(result, default=str))
