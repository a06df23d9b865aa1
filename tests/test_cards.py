"""Model cards and the loss curve, written into every run folder (no network: the Hub flows are in test_hub.py)."""

import json
import re
import shutil

import pytest


def test_pretrain_writes_a_card_with_metadata_metrics_and_loss_curve(tiny_lm):
    from huggingface_hub import ModelCard

    card = ModelCard.load(tiny_lm / "README.md")
    results = json.loads((tiny_lm / "results.json").read_text())
    data = card.data
    assert data.license == "apache-2.0" and data.library_name == "transformers"
    assert data.pipeline_tag == "text-generation" and {"hfrecipes", "pretrain"} <= set(data.tags)
    assert data.datasets is None, "builtin corpus: no Hub dataset id to link"
    index = {r.metric_type: r.metric_value for r in data.eval_results}
    assert index == {k: pytest.approx(results[k], rel=1e-5) for k in ["eval_loss", "perplexity", "eval_bits_per_byte"]}
    assert {r.task_type for r in data.eval_results} == {"text-generation"}
    text = card.text
    assert f'pipeline("text-generation", model="{tiny_lm}")' in text, "local runs load from the folder"
    assert f"| eval_loss | {results['eval_loss']:.4g} |" in text and "| epoch |" not in text
    assert "recipes/pretrain.py" in text and "n_embd: 32" in text and "CPU cores" in text
    assert "![Training and validation loss](loss_curve.png)" in text
    assert (tiny_lm / "loss_curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_card_usage_snippet_runs_on_the_local_folder(tiny_lm, capsys):
    code = re.search(r"```python\n(.*?)```", (tiny_lm / "README.md").read_text(), flags=re.S).group(1)
    exec(compile(code, "README.md", "exec"), {})
    assert capsys.readouterr().out.strip()


def test_tokenizer_card(tiny_tokenizer):
    text = (tiny_tokenizer / "README.md").read_text()
    assert f'AutoTokenizer.from_pretrained("{tiny_tokenizer}")' in text and "train_tokenizer" in text
    assert "model-index" not in text and not (tiny_tokenizer / "loss_curve.png").exists()


def test_card_for_repo_points_the_snippet_at_the_repo_and_keeps_edits(tiny_lm, tmp_path):
    from huggingface_hub import ModelCard

    from hfrecipes.cards import card_for_repo

    run = shutil.copytree(tiny_lm, tmp_path / "run", ignore=shutil.ignore_patterns("checkpoint-*"))
    (run / "README.md").write_text((run / "README.md").read_text() + "\nA note the user added.\n")
    card = ModelCard(card_for_repo(run, "alice/lm"))
    assert f'model="{run}"' not in card.text and 'model="alice/lm"' in card.text
    assert card.text.lstrip().startswith("# lm\n") and card.data.model_name == "lm"
    assert card.data.eval_results and card.data.pipeline_tag == "text-generation", "metadata kept"
    assert card.text.endswith("A note the user added.\n")
    (run / "README.md").write_text(str(card))
    assert card_for_repo(run, "alice/lm") == str(card), "a card that names the repo is pushed as is"
    assert 'model="bob/lm2"' in card_for_repo(run, "bob/lm2")


def test_base_model_metadata_only_for_hub_ids(tiny_lm, tmp_path):
    from huggingface_hub import ModelCard

    from hfrecipes.cards import write_model_card

    run = shutil.copytree(tiny_lm, tmp_path / "run", ignore=shutil.ignore_patterns("checkpoint-*"))
    write_model_card(run, pipeline_tag="text-generation", base_model=str(tiny_lm))
    card = ModelCard.load(run / "README.md")
    assert card.data.base_model is None and f"fine-tuned from the local model `{tiny_lm.name}`" in card.text
    write_model_card(run, pipeline_tag="text-generation", base_model="openai-community/gpt2")
    card = ModelCard.load(run / "README.md")
    assert card.data.base_model == "openai-community/gpt2" and "fine-tuned from [`openai-community/gpt2`]" in card.text


def test_files_to_push_leave_out_checkpoints_logs_and_pickles(tmp_path):
    from hfrecipes.hub import files_to_push

    for name in [
        "model.safetensors",
        "config.json",
        "README.md",
        "results.json",
        "loss_curve.png",
        "training_args.bin",
        ".results.json.tmp123",
        "checkpoint-10/model.safetensors",
        "checkpoint-10/optimizer.pt",
        "runs/May01/events.out.tfevents.1",
    ]:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("x")
    pushed = [rel for rel, _ in files_to_push(tmp_path)]
    assert pushed == ["config.json", "loss_curve.png", "model.safetensors", "results.json"], "README is rendered"


def test_plot_loss_curve_needs_a_history(tmp_path):
    from hfrecipes.cards import plot_loss_curve

    assert plot_loss_curve(tmp_path) is None
    (tmp_path / "trainer_state.json").write_text(json.dumps({"log_history": [{"step": 1, "train_runtime": 1.0}]}))
    assert plot_loss_curve(tmp_path) is None
