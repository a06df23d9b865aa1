"""recipes/eval.py: lm-evaluation-harness on our models and Hub models, offline.

- python_docs_mc (src/hfrecipes/tasks/, built from builtin:python-docs) runs in this process with no server: a model
  pretrained for 300 steps scores well above chance, a random-init model of the same shape at chance;
- real harness tasks (arc_easy, arc_challenge, hellaswag, lambada_openai) run unmodified in a subprocess against the
  loopback Hub, whose stand-in datasets sit under the ids and configs the harness's task YAMLs name;
- adapter folders, chat models, task YAML files of the user's, and bad inputs as one-line errors.
"""

import contextlib
import io
import json
import shutil
import subprocess
import sys

import pytest
import yaml
from conftest import ROOT, load_recipe

from hfrecipes.config import cli_main

CHANCE = 0.25


def evaluate(*args: str) -> dict:
    """Runs the recipe in this process (the harness's task index is built once per process); returns results.json."""
    out = args[args.index("--output_dir") + 1]
    load_recipe("eval").main(list(args))
    with open(f"{out}/results.json") as f:
        return json.load(f)


def run_error(*args: str) -> str:
    err = io.StringIO()
    with contextlib.redirect_stderr(err), pytest.raises(SystemExit) as stop:
        cli_main(lambda: load_recipe("eval").main(list(args)))
    assert stop.value.code == 2, err.getvalue()
    lines = err.getvalue().strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err.getvalue()
    return lines[0]


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """These models are tiny: one thread is 2-3x faster than two on shared cores, and the trained weights (hence the
    scores) no longer depend on the machine's core count. The thread count is put back after this module."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def sanity_lm(one_thread, tiny_tokenizer, tmp_path_factory):
    """A 1-layer GPT-2 pretrained for 300 steps on builtin:python-docs (~10 s): enough to read word order."""
    out = tmp_path_factory.mktemp("sanity") / "lm"
    args = ["--tokenizer_name", str(tiny_tokenizer), "--n_layer", "1", "--n_head", "2", "--n_embd", "64"]
    args += ["--block_size", "64", "--max_train_samples", "1000", "--max_steps", "300", "--max_train_minutes", "0"]
    args += ["--per_device_train_batch_size", "8", "--learning_rate", "3e-3", "--seed", "0"]
    load_recipe("pretrain").main([*args, "--save_strategy", "no", "--report_to", "none", "--output_dir", str(out)])
    return out


@pytest.fixture(scope="module")
def random_lm(sanity_lm, tmp_path_factory):
    """The same shape and tokenizer, random weights (seed 0), saved as a plain folder (not one of our runs)."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    out = tmp_path_factory.mktemp("random") / "lm"
    torch.manual_seed(0)
    AutoModelForCausalLM.from_config(AutoConfig.from_pretrained(sanity_lm)).save_pretrained(out)
    AutoTokenizer.from_pretrained(sanity_lm).save_pretrained(out)
    return out


def test_builtin_task_scores_a_trained_model_above_chance_and_a_random_one_at_it(sanity_lm, random_lm, tmp_path):
    """246 items, fixed seeds, one thread. Measured (benchmarks/eval_sanity.py, these seeds): trained 0.569, random
    0.268; over 3 seeds of the shuffles (and init) 0.584 +- 0.013 vs 0.237 +- 0.029. The bounds sit 3.5 standard
    errors (0.028) from chance and 6 below the trained score, so neither other hardware nor library versions flip
    them; a model that learned nothing cannot pass."""
    trained = evaluate("--model_name_or_path", str(sanity_lm), "--output_dir", str(tmp_path / "trained"))
    random = evaluate("--model_name_or_path", str(random_lm), "--output_dir", str(tmp_path / "random"))
    assert trained["python_docs_mc/examples"] == random["python_docs_mc/examples"] == 246
    assert trained["python_docs_mc/acc"] > CHANCE + 0.15, trained
    assert abs(random["python_docs_mc/acc"] - CHANCE) < 0.1, random
    assert 0 < trained["python_docs_mc/acc_stderr"] < 0.05
    assert trained["seconds_per_1000_examples"] > 0 and trained["examples"] == 246

    # what the run wrote, and what it added to the model folder (its card keeps pretrain's own results)
    out = tmp_path / "trained"
    harness = json.loads((out / "eval_results.json").read_text())
    assert harness["results"]["python_docs_mc"]["acc,none"] == pytest.approx(trained["python_docs_mc/acc"])
    assert harness["n-samples"]["python_docs_mc"]["effective"] == 246
    table = (out / "eval_results.md").read_text()
    assert f"| python_docs_mc | acc ↑ | {trained['python_docs_mc/acc']:.4f} |" in table
    assert yaml.safe_load((out / "run_config.yaml").read_text())["tasks"] == ["python_docs_mc"]
    assert json.loads((out / "run_info.json").read_text())["recipe"] == "eval"
    bench = json.loads((sanity_lm / "results.json").read_text())["benchmarks"]["python_docs_mc"]
    assert bench["acc"] == trained["python_docs_mc/acc"] and bench["examples"] == 246 and bench["num_fewshot"] == 0
    assert "eval_loss" in json.loads((sanity_lm / "results.json").read_text()), "the run's own results are kept"
    from huggingface_hub import ModelCard

    card = ModelCard.load(sanity_lm / "README.md")
    index = {(r.dataset_name, r.metric_type): r.metric_value for r in card.data.eval_results}
    assert index[("python_docs_mc", "acc")] == pytest.approx(trained["python_docs_mc/acc"])
    assert ("python_docs_mc", "acc_stderr") not in index and any(m == "eval_loss" for _, m in index)
    assert not (random_lm / "results.json").exists(), "a folder that is not one of our runs gets no results.json"


# One process, so the harness's task index (~15k names, seconds to build) is built once for both runs.
STANDIN_RUNS = """
import sys
from conftest import load_recipe
from hfrecipes.errors import UserError
main = load_recipe("eval").main
model = ["--model_name_or_path", "openai-community/gpt2"]
try:
    main([*model, "--tasks", "arc_eazy,hellaswag"])
except UserError as err:
    print("unknown:", err)
main([*model, "--tasks", sys.argv[1], "--limit", "12", "--bootstrap_iters", "0", "--batch_size", "64"])
"""


def test_harness_tasks_run_against_the_standin_hub(standin_hub, tmp_path):
    """The harness's own arc_easy, arc_challenge, hellaswag and lambada_openai, datasets from the loopback Hub by their
    real ids, on the stand-in of the Hub model openai-community/gpt2 (default output folder: outputs/eval/ID); and a
    misspelled harness task name, answered with the closest names."""
    tasks = "arc_easy,arc_challenge,hellaswag,lambada_openai"
    env = standin_hub.env(tmp_path / "home", PYTHONPATH=f"{ROOT / 'src'}:{ROOT / 'tests'}", OMP_NUM_THREADS="1")
    cmd = [sys.executable, "-c", STANDIN_RUNS, tasks]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert "unknown: unknown task 'arc_eazy' (did you mean 'arc_easy'" in proc.stdout
    out = tmp_path / "outputs" / "eval" / "openai-community--gpt2"
    results = json.loads((out / "results.json").read_text())
    assert results["tasks"] == tasks.split(",") and results["examples"] == 48
    for task in ("arc_easy", "arc_challenge", "hellaswag"):
        assert 0 <= results[f"{task}/acc"] <= 1 and 0 <= results[f"{task}/acc_norm"] <= 1
        assert results[f"{task}/examples"] == 12
    assert results["lambada_openai/perplexity"] > 1 and 0 <= results["lambada_openai/acc"] <= 1
    assert "arc_easy/acc_stderr" not in results, "--bootstrap_iters 0: no standard errors"
    configs = json.loads((out / "eval_results.json").read_text())["configs"]
    datasets = {t: (c["dataset_path"], c.get("dataset_name")) for t, c in configs.items()}
    assert datasets == {
        "arc_easy": ("allenai/ai2_arc", "ARC-Easy"),
        "arc_challenge": ("allenai/ai2_arc", "ARC-Challenge"),
        "hellaswag": ("Rowan/hellaswag", None),
        "lambada_openai": ("EleutherAI/lambada_openai", "default"),
    }


def test_adapter_folder_scores_as_its_merged_model(sanity_lm, tmp_path):
    """A LoRA adapter folder (base from adapter_config.json) evaluates base + adapter: as the merged model does."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.manual_seed(0)
    base = AutoModelForCausalLM.from_pretrained(sanity_lm)
    config = LoraConfig(r=4, target_modules=["c_attn"], init_lora_weights=False)  # random B: not the identity
    peft_model = get_peft_model(base, config)
    peft_model.save_pretrained(tmp_path / "adapter")
    peft_model.merge_and_unload().save_pretrained(tmp_path / "merged")
    for folder in ("adapter", "merged"):
        AutoTokenizer.from_pretrained(sanity_lm).save_pretrained(tmp_path / folder)
    common = ["--limit", "40", "--bootstrap_iters", "0"]
    adapter = evaluate("--model_name_or_path", str(tmp_path / "adapter"), *common, "--output_dir", str(tmp_path / "a"))
    merged = evaluate("--model_name_or_path", str(tmp_path / "merged"), *common, "--output_dir", str(tmp_path / "m"))
    harness = [json.loads((tmp_path / d / "eval_results.json").read_text())["results"] for d in "am"]
    assert adapter["python_docs_mc/acc"] == merged["python_docs_mc/acc"]
    assert harness[0]["python_docs_mc"]["acc_norm,none"] == harness[1]["python_docs_mc"]["acc_norm,none"]


def test_chat_models_get_the_chat_template_by_default(sanity_lm, tmp_path):
    """An SFT run (run_info.json) with a chat template: on by default, off with --apply_chat_template false."""
    chat = shutil.copytree(sanity_lm, tmp_path / "sft", ignore=shutil.ignore_patterns("eval", "README.md"))
    info = json.loads((chat / "run_info.json").read_text())
    (chat / "run_info.json").write_text(json.dumps({**info, "chat": True}))
    config = json.loads((chat / "tokenizer_config.json").read_text())
    config["chat_template"] = "{% for m in messages %}<{{ m['role'] }}> {{ m['content'] }}\n{% endfor %}"
    (chat / "tokenizer_config.json").write_text(json.dumps(config))
    common = ["--model_name_or_path", str(chat), "--limit", "8", "--bootstrap_iters", "0"]
    assert evaluate(*common, "--output_dir", str(tmp_path / "on"))["apply_chat_template"] is True
    plain = evaluate(*common, "--apply_chat_template", "false", "--output_dir", str(tmp_path / "off"))
    assert plain["apply_chat_template"] is False
    benchmarks = json.loads((chat / "results.json").read_text())["benchmarks"]
    assert benchmarks["python_docs_mc"]["apply_chat_template"] is False, "the last run's scores"


def test_task_yaml_file_of_the_users_over_local_files(sanity_lm, tmp_path):
    """A multiple-choice task of the user's on a local JSON file: --tasks PATH.yaml, no server, no index."""
    rows = [{"q": f"{w} is", "options": [" a word.", " is is is"], "answer": 0} for w in ("This", "That", "It")]
    (tmp_path / "items.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    task = {
        "task": "my_words",
        "dataset_path": "json",
        "dataset_kwargs": {"data_files": {"test": str(tmp_path / "items.jsonl")}},
        "output_type": "multiple_choice",
        "test_split": "test",
        "doc_to_text": "{{q}}",
        "doc_to_choice": "{{options}}",
        "doc_to_target": "answer",
        "target_delimiter": "",
        "metric_list": [{"metric": "acc", "aggregation": "mean", "higher_is_better": True}],
    }
    (tmp_path / "my_words.yaml").write_text(yaml.safe_dump(task))
    args = ["--model_name_or_path", str(sanity_lm), "--tasks", str(tmp_path / "my_words.yaml"), "--batch_size", "2"]
    results = evaluate(*args, "--output_dir", str(tmp_path / "out"))
    assert results["tasks"] == ["my_words"] and results["my_words/examples"] == 3
    assert 0 <= results["my_words/acc"] <= 1


@pytest.mark.parametrize(
    "args, message",
    [
        (["--tasks", "missing/task.yaml"], "task file not found: missing/task.yaml"),
        (["--model_name_or_path", "outputs/no-such-run"], "no model folder at outputs/no-such-run"),
        (["--limit", "0"], "limit must be a whole number of examples per task, or a fraction in (0, 1)"),
        (["--limit", "2.5"], "limit must be a whole number"),
        (["--include_path", "no/such/folder"], "--include_path no/such/folder does not exist"),
        (["--metadata", "{seed"], "--metadata is not valid JSON"),
    ],
    ids=["task-file", "model-folder", "limit-0", "limit-fraction", "include-path", "metadata"],
)
def test_bad_inputs_are_one_line_errors(sanity_lm, tmp_path, args, message):
    out = tmp_path / "out"
    model = [] if "--model_name_or_path" in args else ["--model_name_or_path", str(sanity_lm)]
    line = run_error(*model, *args, "--output_dir", str(out))
    assert message in line, line
    assert not out.exists(), "nothing is written for a bad input"


def test_classifier_and_device_errors(sanity_lm, tmp_path):
    classifier = shutil.copytree(sanity_lm, tmp_path / "classify", ignore=shutil.ignore_patterns("eval"))
    config = json.loads((classifier / "config.json").read_text())
    (classifier / "config.json").write_text(json.dumps({**config, "architectures": ["GPT2ForSequenceClassification"]}))
    line = run_error("--model_name_or_path", str(classifier), "--output_dir", str(tmp_path / "out"))
    assert "is a sequence classifier (recipes/classify.py)" in line
    import torch

    if not torch.cuda.is_available():
        line = run_error("--model_name_or_path", str(sanity_lm), "--device", "cuda", "--output_dir", str(tmp_path))
        assert "needs a cuda device and none was found" in line
    line = run_error("--model_name_or_path", str(sanity_lm), "--device", "gpu0", "--output_dir", str(tmp_path))
    assert "device 'gpu0' is not a torch device" in line


def test_pipeline_report_shows_the_benchmarks(tmp_path):
    """The report's summary row of an `eval` stage and a Benchmarks table from the models' results.json."""
    from hfrecipes.report import write_report

    bench = {"acc": 0.61, "acc_stderr": 0.031, "examples": 246, "num_fewshot": 0, "limit": None}
    (tmp_path / "pretrain").mkdir()
    (tmp_path / "pretrain" / "results.json").write_text(
        json.dumps({"eval_loss": 4.2, "benchmarks": {"python_docs_mc": bench}})
    )
    (tmp_path / "eval").mkdir()
    flat = {"python_docs_mc/acc": 0.61, "python_docs_mc/acc_stderr": 0.031, "python_docs_mc/examples": 246}
    (tmp_path / "eval" / "results.json").write_text(json.dumps({**flat, "examples": 246}))
    text = write_report(tmp_path).read_text()
    assert "| eval | " in text and "python_docs_mc/acc 0.61" in text and "python_docs_mc/acc_stderr" not in text
    assert "## Benchmarks" in text and "| pretrain | python_docs_mc | acc | 0.61 ± 0.031 | 246 | 0 | - |" in text


def test_dataset_errors_name_the_dataset():
    from datasets.exceptions import DatasetNotFoundError

    from hfrecipes.evaluation import dataset_error

    script = dataset_error(RuntimeError("Dataset scripts are no longer supported, but found lambada_openai.py"))
    assert "loading script (lambada_openai.py), which datasets >= 4 does not run" in script
    missing = dataset_error(
        DatasetNotFoundError("Dataset 'allenai/ai2_arcx' doesn't exist on the Hub or cannot be accessed.")
    )
    assert missing.startswith("a task's dataset cannot be loaded: ") and "'allenai/ai2_arcx'" in missing
    assert dataset_error(ValueError("a bug")) is None


def test_headline_keeps_what_was_asked_for():
    """A group with scores of its own (mmlu) is one entry, its examples summed through subgroups; a group without
    (a tag) stands for its tasks; stderrs the harness could not compute ("N/A") are None."""
    from hfrecipes.evaluation import flat_results, headline

    results = {
        "results": {
            "mmlu": {"acc,none": 0.25, "acc_stderr,none": 0.01, "alias": "mmlu"},
            "mmlu_stem": {"acc,none": 0.24, "acc_stderr,none": 0.02},
            "mmlu_a": {"acc,none": 0.2, "acc_stderr,none": 0.05},
            "mmlu_b": {"acc,none": 0.3, "acc_stderr,none": 0.05},
            "my_tag": {"alias": "my_tag"},
            "lambada_openai": {"perplexity,none": 40.1, "perplexity_stderr,none": "N/A", "acc,none": 0.33},
        },
        "group_subtasks": {"mmlu": ["mmlu_stem"], "mmlu_stem": ["mmlu_a", "mmlu_b"], "my_tag": ["lambada_openai"]},
        "n-samples": {"mmlu_a": {"effective": 10}, "mmlu_b": {"effective": 5}, "lambada_openai": {"effective": 7}},
        "n-shot": {"mmlu_a": 0, "lambada_openai": 0},
        "configs": {"lambada_openai": {"dataset_path": "EleutherAI/lambada_openai", "dataset_name": "default"}},
    }
    scores = headline(results)
    assert list(scores) == ["mmlu", "lambada_openai"]
    assert scores["mmlu"]["examples"] == 15 and scores["mmlu"]["acc_stderr"] == 0.01
    assert scores["lambada_openai"]["perplexity_stderr"] is None and scores["lambada_openai"]["split"] is None
    flat = flat_results(scores)
    assert flat["lambada_openai/acc"] == 0.33 and "lambada_openai/perplexity_stderr" not in flat
