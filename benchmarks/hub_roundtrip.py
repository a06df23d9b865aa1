"""Push + download round-trip times through the Hub protocol, on loopback (issue 5 figures).

Starts tests/hub_server.py on 127.0.0.1, then for a tiny GPT-2 and a >= 50 MB one (LFS, multipart upload):
``hfrecipes.hub.push_folder`` (whoami, create repo, preupload, LFS batch + upload, commit), then a cold
``snapshot_download`` and a cold ``AutoModelForCausalLM.from_pretrained`` from the server (fresh caches), checking
the weights come back byte for byte. Prints the median of 3 round trips per model.

    python benchmarks/hub_roundtrip.py            # from the repository root; ~1 minute on 2 CPU cores
"""

import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WORK = Path(tempfile.mkdtemp(prefix="hub-roundtrip-"))
TOKEN = "hf_benchmark_token"
sys.path[:0] = [str(ROOT / "src"), str(ROOT / "tests")]
from hub_server import HubServer  # noqa: E402

SERVER = HubServer(WORK / "server", {TOKEN: ("bench", "write")})
# huggingface_hub reads these when it is imported: set them first.
os.environ.update(
    HF_ENDPOINT=SERVER.start(),
    HF_TOKEN=TOKEN,
    HF_HOME=str(WORK / "home"),
    HF_HUB_DISABLE_XET="1",
    HF_HUB_OFFLINE="0",
    HF_HUB_DISABLE_PROGRESS_BARS="1",
    TOKENIZERS_PARALLELISM="false",
)

REPEATS = 3
SIZES = {  # name: (n_layer, n_embd)
    "tiny": (1, 32),
    "large": (5, 512),
}


def build_run(name: str, n_layer: int, n_embd: int, tokenizer) -> Path:
    """A run folder like the pretrain recipe's: model (safetensors), tokenizer, results.json, model card."""
    from transformers import GPT2Config, GPT2LMHeadModel

    from hfrecipes.cards import write_model_card
    from hfrecipes.runs import write_results

    out = WORK / name
    ids = {"bos_token_id": tokenizer.bos_token_id, "eos_token_id": tokenizer.eos_token_id}
    config = GPT2Config(vocab_size=len(tokenizer), n_positions=128, n_embd=n_embd, n_layer=n_layer, n_head=4, **ids)
    model = GPT2LMHeadModel(config)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    write_results(out, {"num_parameters": model.num_parameters()})
    write_model_card(out, pipeline_tag="text-generation")
    return out


def main():
    from huggingface_hub import snapshot_download
    from transformers import AutoModelForCausalLM

    from hfrecipes.hub import push_folder
    from hfrecipes.tokenization import train_bpe_tokenizer

    texts = [f"def f{i}(x):\n    return x * {i} + {i % 7}\n" for i in range(2000)]
    tokenizer = train_bpe_tokenizer([texts], vocab_size=512)
    rows = []
    for name, (n_layer, n_embd) in SIZES.items():
        out = build_run(name, n_layer, n_embd, tokenizer)
        mb = sum(p.stat().st_size for p in out.rglob("*") if p.is_file()) / 1e6
        times = []
        for i in range(REPEATS):  # a new repo, cold caches, and an empty blob store (else LFS dedupes the upload)
            shutil.rmtree(SERVER.root / "objects")
            (SERVER.root / "objects").mkdir()
            repo_id = f"bench/{name}-{i}"
            start = time.perf_counter()
            push_folder(out, repo_id)
            push = time.perf_counter() - start

            start = time.perf_counter()
            snapshot = Path(snapshot_download(repo_id, cache_dir=WORK / f"cache-{repo_id}"))
            download = time.perf_counter() - start
            assert (snapshot / "model.safetensors").read_bytes() == (out / "model.safetensors").read_bytes()

            start = time.perf_counter()
            AutoModelForCausalLM.from_pretrained(repo_id, cache_dir=WORK / f"cache2-{repo_id}")
            times.append((push, download, time.perf_counter() - start))
        rows.append((name, mb, *(statistics.median(column) for column in zip(*times, strict=True))))

    multipart = sum(1 for m, p, _ in SERVER.log if m == "PUT" and p.count("/") == 3)
    print("\nmodel       MB  push s    MB/s  download s    MB/s  from_pretrained s")
    for name, mb, push, download, load in rows:
        print(f"{name:6s} {mb:7.2f} {push:7.2f} {mb / push:7.1f} {download:10.2f} {mb / download:7.1f} {load:17.2f}")
    print(f"(medians of {REPEATS}; LFS multipart parts uploaded: {multipart})")
    SERVER.stop()
    shutil.rmtree(WORK, ignore_errors=True)


if __name__ == "__main__":
    main()
