"""recipes/prepare_data.py on datatrove: what it removes and keeps, decontamination, the output's use, bad inputs.

The main fixture is real text (WikiText-2 raw paragraphs from ../shared/data) with injected exact duplicates,
near-duplicates (two words changed), junk documents (repeated lines, symbol soup, very short) and SST-2 dev
sentences planted inside training documents; the test knows which is which and checks the report against it.
"""

from __future__ import annotations

import json
import random
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT, load_recipe, run_script

pytest.importorskip("datatrove")

N_REAL, N_EXACT, N_NEAR, N_JUNK, N_PLANTED = 300, 30, 30, 10, 6
# Encyclopedia paragraphs are heavy in numbers and dates, which datatrove's alpha-word ratio counts against them (its
# default 0.8 drops 47 of these 300): 0.7 keeps all but a few, and still drops symbol soup
GOPHER_QUALITY = '{"min_doc_words": 20, "max_non_alpha_words_ratio": 0.7}'


def detokenize(line: str) -> str:
    """WikiText's tokenized text (``word , word @-@ word``) as ordinary prose, the way web text reaches a filter."""
    line = re.sub(r" @(.)@ ", r"\1", line.strip())
    line = re.sub(r" ([.,;:!?)\]'])", r"\1", line)
    return re.sub(r"([(\[]) ", r"\1", line).replace(" n't", "n't")


def build_corpus(shared: Path, root: Path) -> dict:
    """Writes ``root/corpus-{0,1}.jsonl`` and returns what was injected (ids are ``corpus-K.jsonl/ROW``)."""
    rng = random.Random(0)
    paragraphs = [
        detokenize(line)
        for line in (shared / "wikitext-2-raw" / "wiki.test.raw").read_text(encoding="utf-8").splitlines()
        if len(line.split()) >= 150 and not line.strip().startswith("=")
    ][:N_REAL]
    dev = [r.split("\t")[0].strip() for r in (shared / "glue" / "SST-2" / "dev.tsv").read_text().splitlines()[1:]]
    from hfrecipes.prep_steps import _normalized_words  # words as decontamination counts them

    planted = [s for s in dev if len(_normalized_words(s)) >= 13][: N_PLANTED - 2]
    planted += [s for s in dev if 8 <= len(_normalized_words(s)) < 13][:2]  # shorter than the 13-gram: whole
    docs = [{"text": p, "kind": "real", "of": None} for p in paragraphs]
    # an evaluation sentence inside a real document (one of plain prose: few numbers, so no filter drops it first)
    hosts = [i for i in range(200, N_REAL) if sum(any(c.isdigit() for c in w) for w in docs[i]["text"].split()) < 3]
    for i, host in enumerate(hosts[:N_PLANTED]):
        words = docs[host]["text"].split()
        docs[host] = {"text": " ".join(words[:60] + [planted[i]] + words[60:]), "kind": "planted", "of": planted[i]}
    for i in range(N_EXACT):
        docs.append({"text": docs[i]["text"], "kind": "exact", "of": i})
    for i in range(N_EXACT, N_EXACT + N_NEAR):
        words = docs[i]["text"].split()
        for pos in (len(words) // 3, 2 * len(words) // 3):
            words[pos] = rng.choice(["banana", "quantum", "velvet", "harbour"])
        docs.append({"text": " ".join(words), "kind": "near", "of": i})
    junk = {
        "repeated": "Click here to subscribe to our newsletter today.\n" * 40,
        "symbols": " ".join("#$%&*@!^~|<>{}"[rng.randrange(14)] * rng.randrange(1, 6) for _ in range(300)),
        "short": "ok thanks",
    }
    for kind, text in junk.items():
        for j in range(N_JUNK):
            docs.append(
                {"text": f"{text} {j}" if kind != "repeated" else text + f"Issue {j}.", "kind": kind, "of": None}
            )
    order = list(range(len(docs)))
    rng.shuffle(order)
    kinds, id_of = {}, {}
    for part in range(2):
        with open(root / f"corpus-{part}.jsonl", "w", encoding="utf-8") as f:
            for row_i, k in enumerate(order[part::2]):
                f.write(json.dumps({"text": docs[k]["text"], "url": f"https://example.org/{k}"}) + "\n")
                id_of[k] = f"corpus-{part}.jsonl/{row_i}"
                kinds[id_of[k]] = docs[k]
    return {"docs": kinds, "planted": planted, "id_of": id_of}


@pytest.fixture(scope="module")
def injected(tmp_path_factory):
    from conftest import SHARED_DATA

    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared data not found at {SHARED_DATA}")
    root = tmp_path_factory.mktemp("prep-corpus")
    info = build_corpus(SHARED_DATA, root)
    out = root / "prepared"
    # fmt: off
    load_recipe("prepare_data").main([
        "--train_file", str(root / "corpus-*.jsonl"), "--output_dir", str(out), "--workers", "2",
        "--min_chars", "50", "--gopher_quality_args", GOPHER_QUALITY,
        "--decontaminate_files", str(SHARED_DATA / "glue" / "SST-2" / "dev.tsv"),
        "--decontaminate_columns", "sentence",
    ])
    # fmt: on
    return root, out, info


def _removed(out: Path) -> set[str]:
    import pyarrow.parquet as pq

    kept = {
        i for f in sorted((out / "data").glob("*.parquet")) for i in pq.read_table(f, columns=["id"])["id"].to_pylist()
    }
    return kept


def test_injected_duplicates_junk_and_eval_sentences(injected):
    root, out, info = injected
    docs = info["docs"]
    kept = _removed(out)
    results = json.loads((out / "results.json").read_text())
    report = json.loads((out / "data_report.json").read_text())
    assert results["documents_in"] == len(docs) and results["documents_out"] == len(kept)

    # junk: every kind removed, each for a reason of the filter meant for it
    for kind in ("repeated", "symbols", "short"):
        left = [d for d, v in docs.items() if v["kind"] == kind and d in kept]
        assert not left, f"{kind} junk kept: {left[:3]}"
    reasons = results["dropped"]
    assert sum(n for k, n in reasons.items() if k.startswith("gopher_repetition/")) >= N_JUNK  # repeated lines
    assert any(k.startswith("gopher_quality/") for k in reasons)  # symbol soup
    assert reasons.get("length/too_short", 0) >= N_JUNK  # very short

    # exact duplicates: never both copies kept; the exact stage removes the copies (bar pairs a filter dropped)
    pairs = [(info["id_of"][v["of"]], d) for d, v in docs.items() if v["kind"] == "exact"]
    assert not [p for p in pairs if p[0] in kept and p[1] in kept]
    assert sum((a in kept) != (b in kept) for a, b in pairs) >= 0.9 * N_EXACT
    assert reasons["exact_dedup"] >= 0.9 * N_EXACT

    # near duplicates (two words changed): recall and precision of the MinHash stage on the injected pairs
    near = [(info["id_of"][v["of"]], d) for d, v in docs.items() if v["kind"] == "near"]
    assert not [p for p in near if p[0] in kept and p[1] in kept]
    caught = sum((a in kept) != (b in kept) for a, b in near)
    minhash = next(s for s in report["steps"] if s["step"] == "minhash_dedup")
    recall, precision = caught / N_NEAR, caught / max(minhash["dropped"], 1)
    assert recall >= 0.8 and precision >= 0.9, (recall, precision, minhash)
    assert 0 < results["duplicate_rate"] < 0.3

    # real documents are kept (bar the planted ones and the few the filters find fault with)
    real = [d for d, v in docs.items() if v["kind"] == "real"]
    assert sum(d in kept for d in real) / len(real) >= 0.85

    # decontamination: the planted sentences are named, their documents dropped
    decont = json.loads((out / "decontamination.json").read_text())
    named = {o["text"].strip() for o in decont["overlaps"]}
    assert set(info["planted"]) <= named, set(info["planted"]) - named
    planted_docs = [d for d, v in docs.items() if v["kind"] == "planted"]
    assert not [d for d in planted_docs if d in kept]
    assert decont["eval_texts"] == 872 and results["eval_texts_overlapping"] >= N_PLANTED
    md = (out / "data_report.md").read_text()
    assert "## Decontamination" in md and info["planted"][0][:40] in md
    assert "gopher_repetition" in md and "## Examples of dropped documents" in md


def test_output_is_a_hub_layout_dataset_that_trains_a_tokenizer_and_a_model(injected, tmp_path):
    from datasets import load_dataset

    root, out, info = injected
    ds = load_dataset(str(out), split="train")  # the README's configs: name the shards
    assert len(ds) == json.loads((out / "results.json").read_text())["documents_out"]
    assert {"text", "id"} <= set(ds.column_names)
    card = (out / "README.md").read_text()
    assert card.startswith("---\nconfigs:") and "data/train-*.parquet" in card
    assert json.loads((out / "run_info.json").read_text())["repo_type"] == "dataset"
    assert not (out / ".work").exists(), "the work folder is removed at the end"
    pattern = str(out / "data" / "*.parquet")
    tok = tmp_path / "tok"
    load_recipe("train_tokenizer").main(["--train_file", pattern, "--vocab_size", "400", "--output_dir", str(tok)])
    lm = tmp_path / "lm"
    # fmt: off
    load_recipe("pretrain").main([
        "--train_file", pattern, "--tokenizer_name", str(tok), "--n_layer", "1", "--n_head", "2", "--n_embd", "32",
        "--block_size", "64", "--per_device_train_batch_size", "8", "--max_steps", "6", "--max_train_minutes", "0",
        "--save_strategy", "no", "--report_to", "none", "--output_dir", str(lm),
    ])
    # fmt: on
    assert 0 < json.loads((lm / "results.json").read_text())["eval_bits_per_byte"] < 10


def test_builtin_default_run_and_rerun_rules(tmp_path):
    out = tmp_path / "prepared"
    load_recipe("prepare_data").main(["--output_dir", str(out), "--max_train_samples", "400"])
    results = json.loads((out / "results.json").read_text())
    assert results["documents_in"] == 400 and 0 < results["documents_out"] <= 400
    assert results["bytes_out"] <= results["bytes_in"] and results["words_out"] > 0
    for name in ("run_config.yaml", "run_info.json", "data_report.md", "data_report.json", "README.md"):
        assert (out / name).is_file(), name
    proc = run_script("prepare_data", "--output_dir", str(out), "--max_train_samples", "400")
    assert proc.returncode == 2 and "--overwrite" in proc.stderr.strip().splitlines()[-1]
    before = sorted((out / "data").iterdir())
    load_recipe("prepare_data").main(["--output_dir", str(out), "--max_train_samples", "200", "--overwrite"])
    assert json.loads((out / "results.json").read_text())["documents_in"] == 200
    assert [p.name for p in sorted((out / "data").iterdir())] == [p.name for p in before]


def test_two_workers_give_the_same_documents_as_one(tmp_path):
    rng = random.Random(1)
    vocab = "river stone cloud garden lamp window bridge forest letter engine paper music winter harbor".split()
    texts = [" ".join(rng.choice(vocab) for _ in range(40)) + f" (document {i})." for i in range(60)]  # all distinct
    for part in range(3):
        (tmp_path / f"in-{part}.jsonl").write_text("".join(json.dumps({"text": t}) + "\n" for t in texts[part::3]))
    common = ["--train_file", str(tmp_path / "in-*.jsonl"), "--min_chars", "10"]
    common += ["--gopher_quality", "false", "--gopher_repetition", "false"]
    for workers in (1, 2):
        load_recipe("prepare_data").main(
            [*common, "--workers", str(workers), "--output_dir", str(tmp_path / f"w{workers}")]
        )
    import pyarrow.parquet as pq

    one, two = (
        sorted(
            t
            for f in sorted((tmp_path / f"w{w}" / "data").glob("*.parquet"))
            for t in pq.read_table(f)["text"].to_pylist()
        )
        for w in (1, 2)
    )
    assert one == two and len(one) == 60
    assert json.loads((tmp_path / "w2" / "results.json").read_text())["tasks"] == 2


def test_decontamination_matches_ngrams_and_short_texts_whole(tmp_path):
    from hfrecipes.prep_steps import Decontaminate

    evals = [
        {"text": "the quick brown fox jumps over the lazy dog near the quiet river bank today"},  # 15 words
        {"text": "a short but complete review sentence here"},  # 7 words: below min_words, never matched
        {"text": "an entirely charming and affecting little film overall"},  # 8 words: matched whole
    ]
    step = Decontaminate(evals, ngram=13, min_words=8, action="drop", report_folder=str(tmp_path))
    from datatrove.data import Document

    def doc(text):
        return Document(text=text, id="d")

    assert step.filter(doc("Intro. The QUICK brown fox jumps over the lazy dog, near the quiet river bank! End.")) == (
        False,
        "contaminated",
    )
    assert step.filter(doc("the quick brown fox jumps over the lazy dog near a different river")) is True
    assert step.filter(doc("Critics said: an entirely charming and affecting little film overall.")) == (
        False,
        "contaminated",
    )
    assert step.filter(doc("a short but complete review sentence here")) is True
    assert [f["eval"] for f in step.found] == [[0], [2]]


def _one_line(proc) -> str:
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    return proc.stderr.strip().splitlines()[-1]


def test_bad_inputs_are_one_line_and_leave_the_output_alone(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "sentinel.txt").write_text("keep")
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"text": "fine line with words"}\n{"text": broken\n')
    line = _one_line(run_script("prepare_data", "--train_file", str(broken), "--output_dir", str(out)))
    assert "broken.jsonl line 2" in line
    nocol = tmp_path / "nocol.jsonl"
    nocol.write_text('{"body": "text under another name"}\n')
    line = _one_line(run_script("prepare_data", "--train_file", str(nocol), "--output_dir", str(out)))
    assert "no column 'text'" in line and "--text_column" in line
    short = tmp_path / "short.jsonl"
    short.write_text("".join(json.dumps({"text": f"tiny {i}"}) + "\n" for i in range(20)))
    line = _one_line(run_script("prepare_data", "--train_file", str(short), "--output_dir", str(out)))
    assert "every one of the 20 documents was removed" in line and "length" in line
    line = _one_line(
        run_script(
            "prepare_data",
            "--train_file",
            str(short),
            "--gopher_quality_args",
            '{"min_words": 3}',
            "--output_dir",
            str(out),
        )
    )
    assert "has no argument 'min_words'" in line and "min_doc_words" in line
    line = _one_line(
        run_script("prepare_data", "--decontaminate_files", str(tmp_path / "missing.tsv"), "--output_dir", str(out))
    )
    assert "missing.tsv" in line
    binary = tmp_path / "binary.jsonl"
    binary.write_bytes(b"\x1f\x8b\x08\x00binary\x00\x00")
    line = _one_line(run_script("prepare_data", "--train_file", str(binary), "--output_dir", str(out)))
    assert "binary.jsonl is binary data" in line
    line = _one_line(
        run_script("prepare_data", "--tokenizer_name", str(tmp_path / "no-tok"), "--output_dir", str(out))
    )
    assert "no-tok" in line
    offline = run_script("prepare_data", "--language", "true", "--output_dir", str(out))  # fastText: not here/offline
    assert "fastText" in _one_line(offline) and "--language false" in _one_line(offline)
    assert sorted(p.name for p in out.iterdir()) == ["sentinel.txt"] or (out / "results.json").exists() is False


def test_push_to_hub_makes_a_dataset_repo(tmp_path):
    from hub_server import HubServer
    from test_hub import TOKEN, USERS, hub_env

    server = HubServer(tmp_path / "storage", USERS)
    server.start()
    try:
        env = {**hub_env(server.endpoint, tmp_path / "home"), "HF_DATASETS_OFFLINE": "0"}
        out = tmp_path / "prepared"
        cmd = [sys.executable, str(ROOT / "recipes" / "prepare_data.py"), "--max_train_samples", "300"]
        cmd += ["--output_dir", str(out), "--push_to_hub", "--hub_model_id", "alice/python-docs-clean"]
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT, timeout=600)
        assert proc.returncode == 0, proc.stderr[-3000:]
        assert "datasets/alice/python-docs-clean" in proc.stdout
        code = "import datasets; print(len(datasets.load_dataset('alice/python-docs-clean', split='train')))"
        loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
        assert loaded.returncode == 0, loaded.stderr[-3000:]
        assert int(loaded.stdout.split()[-1]) == json.loads((out / "results.json").read_text())["documents_out"]
        assert TOKEN not in proc.stdout + proc.stderr
        # hfrecipes push reads what the folder is from run_info.json: a dataset repo again
        again = subprocess.run(
            [sys.executable, "-m", "hfrecipes.cli", "push", str(out), "--repo-id", "alice/again"],
            capture_output=True, text=True, env=env, cwd=ROOT, timeout=300,
        )  # fmt: skip
        assert again.returncode == 0 and "datasets/alice/again" in again.stdout, again.stderr[-3000:]
        assert server.repo_files("alice/again", repo_type="dataset").keys() >= {"README.md", "results.json"}
    finally:
        server.stop()


def test_slurm_executor_submits_every_stage(tmp_path):
    """With a stand-in ``sbatch`` on PATH: one job per stage, each depending on the one before."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "sbatch.log"
    (bin_dir / "sbatch").write_text(f'#!/bin/sh\necho "$@" >> {log}\necho "Submitted batch job $$"\n')
    (bin_dir / "sbatch").chmod(0o755)
    (bin_dir / "squeue").write_text("#!/bin/sh\nexit 0\n")
    (bin_dir / "squeue").chmod(0o755)
    env = {**__import__("os").environ, "PATH": f"{bin_dir}:{__import__('os').environ['PATH']}"}
    cmd = [sys.executable, str(ROOT / "recipes" / "prepare_data.py"), "--executor", "slurm"]
    cmd += ["--slurm_args", '{"partition": "cpu", "time": "1:00:00"}', "--output_dir", str(tmp_path / "out")]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    submitted = [s for s in log.read_text().splitlines() if "RUN_OFFSET" in s]  # not datatrove's stats-merge jobs
    assert len(submitted) == 9, submitted  # filter, 3 exact, 3 minhash, output, finish
    assert sum("afterok" in s for s in submitted) == 8, submitted  # each after the one before
    assert not (tmp_path / "out" / "results.json").exists()


def test_html_documents_are_extracted_and_text_is_normalized():
    from hfrecipes.prep_steps import Clean, looks_like_html

    page = (
        "<!DOCTYPE html><html><body><nav>Home | About | Login</nav><article><h1>Rivers</h1><p>Rivers carry water "
        "from the hills to the sea, and the towns along them grew up around bridges and mills.</p><p>Most of them "
        "flood in spring.</p></article><footer>Copyright 2024 Example Ltd</footer></body></html>"
    )
    clean = Clean("NFKC", whitespace=True, html="auto")
    text = clean.format(page)
    assert "Rivers carry water" in text and "Login" not in text and "Copyright" not in text and "<p>" not in text
    assert not looks_like_html("a < b and c > d in plain text")
    assert clean.format("ﬁne\u00a0 text \t with   gaps  \n\n\n\nnext\x07 line  ") == "fine text with gaps\n\nnext line"
    assert Clean("none", whitespace=False, html="never").format("  <p>kept</p>  ") == "  <p>kept</p>  "


def test_pipeline_stage_feeds_the_tokenizer_and_pretraining(tmp_path):
    import yaml
    from test_pipeline import TINY, hfrecipes

    from hfrecipes.pipeline import ONE_PROCESS, load_pipeline_config

    config = tmp_path / "pipeline.yaml"
    stages = {"prepare_data": {"max_train_samples": 600}, "tokenizer": {"vocab_size": 400}}
    stages["pretrain"] = {**TINY["pretrain"], "max_steps": 4}
    stages.update({name: {"enabled": False} for name in ("sft", "classify", "eval")})
    config.write_text(yaml.safe_dump({"output_dir": str(tmp_path / "run"), **stages}))
    _, wired = load_pipeline_config(config)
    by_name = {s.name: s for s in wired}
    assert [s.name for s in wired] == ["prepare_data", "tokenizer", "pretrain"] and "prepare_data" in ONE_PROCESS
    data = str(tmp_path / "run" / "prepare_data" / "data" / "*.parquet")
    assert by_name["tokenizer"].config["train_file"] == [data] == by_name["pretrain"].config["train_file"]
    assert "dataset_name" not in by_name["pretrain"].config

    # the run: prepare_data -> tokenizer (test_output_is_a_hub_layout_dataset_... trains a model on such output)
    config.write_text(yaml.safe_dump({"output_dir": str(tmp_path / "run"), **stages, "pretrain": {"enabled": False}}))
    proc = hfrecipes("pipeline", "--config", str(config))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    run = tmp_path / "run"
    prepared = json.loads((run / "prepare_data" / "results.json").read_text())
    assert prepared["documents_in"] == 600 and (run / "tokenizer" / "tokenizer.json").is_file()
    tokenizer_config = yaml.safe_load((run / "tokenizer" / "run_config.yaml").read_text())
    assert tokenizer_config["train_file"] == [data]
    report = (run / "report.md").read_text()
    assert "Data preparation" in report and f"{prepared['documents_out']:,} of 600 documents kept" in report


def test_streamed_hub_dataset_is_read_in_shards(standin_hub, tmp_path):
    """FineWeb-Edu's stand-in on the loopback Hub, streamed: its two parquet shards go to the two tasks."""
    from standins import FINEWEB_EDU

    env = standin_hub.env(tmp_path / "hf_home")
    out = tmp_path / "fineweb"
    cmd = [sys.executable, str(ROOT / "recipes" / "prepare_data.py"), "--dataset_name", FINEWEB_EDU]
    cmd += ["--dataset_config", "sample-10BT", "--workers", "2", "--min_chars", "50", "--output_dir", str(out)]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = json.loads((out / "results.json").read_text())
    assert results["documents_in"] > 0 and 0 < results["documents_out"] <= results["documents_in"]
    assert len(results["files"]) == 2, "one shard per task"


def test_a_killed_run_resumes_from_the_finished_stages(tmp_path):
    """A run stopped after MinHash clustering (its output and finish stages undone) skips the stages that finished."""
    out = tmp_path / "prepared"
    args = ["--output_dir", str(out), "--max_train_samples", "300", "--keep_work"]
    load_recipe("prepare_data").main(args)
    first = json.loads((out / "results.json").read_text())
    from hfrecipes.runs import release_output_dirs

    release_output_dirs()  # this process's lock on the folder, as a killed run's is gone
    logs = out / ".work" / "logs"
    for stage in ("output", "finish"):  # as if killed before these two
        shutil.rmtree(logs / stage)
    shutil.rmtree(out / ".work" / "output")
    (out / "results.json").unlink()
    proc = run_script("prepare_data", *args)
    assert proc.returncode == 0, proc.stderr[-3000:]
    skipped = proc.stderr.count("has already been completed") + proc.stderr.count("have already been completed")
    assert skipped >= 5, proc.stderr[-3000:]  # filter, exact (3 stages), MinHash signatures, buckets, cluster
    again = json.loads((out / "results.json").read_text())
    assert {k: again[k] for k in ("documents_in", "documents_out", "bytes_out")} == {
        k: first[k] for k in ("documents_in", "documents_out", "bytes_out")
    }
