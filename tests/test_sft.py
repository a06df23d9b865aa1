import io
import json
import logging
import math
import re
import sys

import pytest
import yaml
from conftest import SHARED_DATA, launch, launch_killed, load_recipe, max_weight_diff

from hfrecipes.chat import FORMATS, is_chat_model, python_docs_chat, to_messages
from hfrecipes.config import parse_config
from hfrecipes.errors import UserError

CHATS = [
    [
        {"role": "user", "content": "Hi there"},
        {"role": "assistant", "content": "Hello!"},
        {"role": "user", "content": "Bye"},
        {"role": "assistant", "content": "See you."},
    ],
    [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "2+2?"},
        {"role": "assistant", "content": "4"},
    ],
]


def tiny_sft(model, out, *extra):
    # fmt: off
    return ["--model_name_or_path", str(model), "--max_train_samples", "48", "--max_eval_samples", "16",
            "--num_train_epochs", "1", "--per_device_train_batch_size", "8", "--per_device_eval_batch_size", "16",
            "--logging_steps", "1", "--report_to", "none", "--output_dir", str(out), *extra]
    # fmt: on


@pytest.fixture(scope="module")
def sft_run(tiny_lm, tmp_path_factory):
    """Full SFT of the tiny LM on builtin:python-docs chats, launched as users do, with the default config."""
    out = tmp_path_factory.mktemp("sft") / "full"
    launch("sft", *tiny_sft(tiny_lm, out, "--learning_rate", "3e-3"))
    return out


def results(out):
    return json.loads((out / "results.json").read_text())


def test_full_sft_writes_model_tokenizer_and_metrics(sft_run):
    for name in [
        "model.safetensors",
        "config.json",
        "generation_config.json",
        "tokenizer.json",
        "chat_template.jinja",
    ]:
        assert (sft_run / name).is_file(), name
    for name in ["trainer_state.json", "run_config.yaml", "run_info.json", "README.md", "loss_curve.png"]:
        assert (sft_run / name).is_file(), name
    card = (sft_run / "README.md").read_text()
    assert "- sft" in card and '"role": "user"' in card, "the card's usage snippet is a chat"
    r = results(sft_run)
    assert r["eval_loss"] < r["eval_loss_before"], "held-out loss on the answers falls"
    assert r["perplexity"] == pytest.approx(math.exp(r["eval_loss"]), rel=1e-6)
    assert r["perplexity_before"] == pytest.approx(math.exp(r["eval_loss_before"]), rel=1e-6)
    assert r["trainable_share"] == 1.0 and 0 < r["train_steps"] <= 6
    assert r["train_tokens"] > 48 * 10 and r["train_tokens_per_second"] > 0
    assert isinstance(r["sample"], str) and r["sample_prompt"].endswith(("?", "."))
    # The end of turn is the EOS the model stops at, for generate() as for the tokenizer saved with it
    eos_ids = json.loads((sft_run / "generation_config.json").read_text())["eos_token_id"]
    tokenizer_config = json.loads((sft_run / "tokenizer_config.json").read_text())
    assert tokenizer_config["eos_token"] == "<|im_end|>" and 3 in eos_ids  # <|im_end|> is id 3 in our tokenizer


def test_resolved_config_reads_back(sft_run):
    sft = load_recipe("sft")
    cfg = yaml.safe_load((sft_run / "run_config.yaml").read_text())
    assert cfg["eos_token"] == "<|im_end|>" and cfg["assistant_only_loss"] is True and "hub_token" not in cfg
    _, model_args, _, training_args = parse_config(sft.CONFIG_CLASSES, ["--config", str(sft_run / "run_config.yaml")])
    assert training_args.eos_token == "<|im_end|>" and model_args.model_name_or_path == cfg["model_name_or_path"]


@pytest.mark.slow
@pytest.mark.parametrize("merge", [False, True], ids=["adapter", "merged"])
def test_lora_sft(tiny_lm, tmp_path, merge):
    import torch
    from transformers import AutoModelForCausalLM

    out = tmp_path / "lora"
    extra = ["--use_peft", "--lora_r", "4", "--learning_rate", "1e-2", *(["--merge_adapter"] if merge else [])]
    load_recipe("sft").main(tiny_sft(tiny_lm, out, *extra))
    r = results(out)
    # rank 4 on every linear layer of the one block: c_attn 32->96, c_proj 32->32, c_fc 32->128, c_proj 128->32
    assert r["trainable_parameters"] == 4 * ((32 + 96) + (32 + 32) + (32 + 128) + (128 + 32))
    assert 0 < r["trainable_share"] < 0.1
    assert r["eval_loss"] < r["eval_loss_before"]
    adapter = out / "adapter" if merge else out
    config = json.loads((adapter / "adapter_config.json").read_text())
    assert config["r"] == 4 and config["base_model_name_or_path"] == str(tiny_lm.resolve())
    assert (adapter / "adapter_model.safetensors").is_file()
    assert (out / "model.safetensors").is_file() == merge
    if merge:  # the merged model computes what base + adapter compute, and differs from the base
        ids = torch.tensor([[5, 6, 7, 8, 9, 10]])
        with torch.no_grad():
            merged, with_adapter, base = (
                AutoModelForCausalLM.from_pretrained(path)(ids).logits for path in (out, adapter, tiny_lm)
            )
        assert torch.allclose(merged, with_adapter, atol=1e-4) and not torch.allclose(merged, base, atol=1e-3)


def test_killed_lora_run_resumes_with_the_same_command(tiny_lm, tmp_path, caplog):
    """SIGKILL mid-training, rerun the same command: the adapter (with dropout) ends as an uninterrupted run's."""
    lora = ["--use_peft", "--lora_r", "4", "--lora_dropout", "0.1", "--learning_rate", "1e-2"]
    lora += ["--save_strategy", "steps", "--save_steps", "2"]
    load_recipe("sft").main(tiny_sft(tiny_lm, tmp_path / "whole", *lora))
    out = tmp_path / "killed"
    launch_killed("sft", "step:3", *tiny_sft(tiny_lm, out, *lora))
    assert sorted(p.name for p in out.glob("checkpoint-*")) == ["checkpoint-2"] and not (out / "results.json").exists()
    caplog.set_level(logging.INFO, logger="hfrecipes.runs")
    load_recipe("sft").main(tiny_sft(tiny_lm, out, *lora))
    assert f"from {out / 'checkpoint-2'}" in caplog.text
    assert max_weight_diff(tmp_path / "whole", out, "adapter_model.safetensors") <= 1e-5
    assert results(out)["train_steps"] == 6 and results(out)["eval_loss"] == pytest.approx(
        results(tmp_path / "whole")["eval_loss"], abs=1e-5
    )


def test_label_mask_counts_only_assistant_tokens(tiny_lm):
    from datasets import Dataset
    from transformers import AutoModelForCausalLM
    from trl import SFTConfig, SFTTrainer

    from hfrecipes.modeling import load_tokenizer

    tokenizer = load_tokenizer(str(tiny_lm))
    assert tokenizer.pad_token_id != tokenizer.eos_token_id, "padding is never confused with the EOS"
    model = AutoModelForCausalLM.from_pretrained(tiny_lm)
    labelled = {}
    for packing in (False, True):
        args = SFTConfig(
            output_dir=str(tiny_lm.parent / "mask"),
            assistant_only_loss=True,
            eos_token="<|im_end|>",
            max_length=64,
            packing=packing,
            bf16=False,
            activation_checkpointing=False,
            report_to="none",
        )
        ds = Dataset.from_dict({"messages": CHATS})
        trainer = SFTTrainer(model=model, args=args, train_dataset=ds, processing_class=tokenizer)
        batch = trainer.data_collator([trainer.train_dataset[i] for i in range(len(trainer.train_dataset))])
        ids, labels = batch["input_ids"].flatten().tolist(), batch["labels"].flatten().tolist()
        assert all(label in (token, -100) for token, label in zip(ids, labels, strict=True))
        assert all(label == -100 for token, label in zip(ids, labels, strict=True) if token == tokenizer.pad_token_id)
        labelled[packing] = tokenizer.decode(
            [token for token, label in zip(ids, labels, strict=True) if label != -100]
        )
    # Only the assistant turns and their end-of-turn token count, unpacked and packed alike (any row order)
    assert sorted(re.findall(r".*?<\|im_end\|>", labelled[False])) == [
        "4<|im_end|>",
        "Hello!<|im_end|>",
        "See you.<|im_end|>",
    ]
    assert sorted(re.findall(r".*?<\|im_end\|>", labelled[True])) == sorted(
        re.findall(r".*?<\|im_end\|>", labelled[False])
    )


def test_chat_template_round_trip(tiny_tokenizer, sft_run):
    from transformers import AutoTokenizer

    from hfrecipes.tokenization import CHAT_TEMPLATE

    tokenizer = AutoTokenizer.from_pretrained(tiny_tokenizer)
    for chat in CHATS:
        text = tokenizer.apply_chat_template(chat, tokenize=False)
        parsed = [
            {"role": role, "content": content}
            for role, content in re.findall(r"<\|im_start\|>(\w+)\n(.*?)<\|im_end\|>\n", text, flags=re.S)
        ]
        assert parsed == chat
        ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        assert tokenizer.decode(ids) == text, "turn markers are single tokens that decode back"
        assert ids.count(tokenizer.convert_tokens_to_ids("<|im_start|>")) == len(chat)
    prompt = tokenizer.apply_chat_template(CHATS[0][:1], tokenize=False, add_generation_prompt=True)
    assert prompt.endswith("<|im_start|>assistant\n")
    assert AutoTokenizer.from_pretrained(sft_run).chat_template == CHAT_TEMPLATE, "the SFT model keeps the template"


def test_formats_become_messages():
    from datasets import Dataset

    user, assistant = CHATS[0][:2]
    pairs = Dataset.from_dict({"prompt": ["Hi there"], "completion": ["Hello!"], "id": [1]})
    assert to_messages(pairs).column_names == ["messages"] and to_messages(pairs)[0]["messages"] == [user, assistant]
    chat_pairs = Dataset.from_dict({"prompt": [[user]], "completion": [[assistant]]})
    assert to_messages(chat_pairs)[0]["messages"] == [user, assistant]
    assert to_messages(Dataset.from_dict({"messages": CHATS}))["messages"] == CHATS
    alpaca = Dataset.from_dict({"instruction": ["Add.", "Greet"], "input": ["2 and 2", ""], "output": ["4", "Hi "]})
    assert [m[0]["content"] for m in to_messages(alpaca)["messages"]] == ["Add.\n\n2 and 2", "Greet"]
    assert to_messages(alpaca)[1]["messages"][1] == {"role": "assistant", "content": "Hi"}
    with pytest.raises(UserError, match=r"the train data has columns text, label; SFT needs 'messages'") as err:
        to_messages(Dataset.from_dict({"text": ["x"], "label": [0]}))
    assert FORMATS in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(UserError, match="lists of"):
        to_messages(Dataset.from_dict({"messages": ["just a string"]}))


def test_builtin_chat_data_is_deterministic_questions_and_answers():
    first, again = python_docs_chat(), python_docs_chat()
    assert len(first["train"]) > 2000 and len(first["validation"]) > 50
    assert first["validation"]["messages"] == again["validation"]["messages"]
    chats = first["train"]["messages"]
    assert all(chat[0]["role"] == "user" and chat[1]["role"] == "assistant" and chat[1]["content"] for chat in chats)
    questions = {chat[0]["content"] for chat in chats}
    assert "What does the function `json.dumps` do?" in questions
    assert any(len(chat) == 4 for chat in chats), "some chats have a second turn"
    assert not questions & {chat[0]["content"] for chat in first["validation"]["messages"]}, "held-out questions"


def test_alpaca_demo_conversion(shared_data):
    from datasets import load_dataset

    raw = load_dataset("json", data_files=str(SHARED_DATA / "alpaca_en_demo" / "alpaca_en_demo.json"))["train"]
    chats = to_messages(raw)["messages"]
    assert len(chats) == 999
    assert all([m["role"] for m in chat] == ["user", "assistant"] and chat[1]["content"] for chat in chats)
    with_input = [i for i, row in enumerate(raw) if row["input"].strip()]
    assert len(with_input) == 412
    i = with_input[0]
    assert chats[i][0]["content"] == raw[i]["instruction"].strip() + "\n\n" + raw[i]["input"].strip()


@pytest.mark.parametrize(
    "args,message",
    [
        (["--merge_adapter"], "merge_adapter merges a LoRA adapter; add --use_peft"),
        (["--model_name_or_path", "/nonexistent/model"], "no model folder at /nonexistent/model; run `make demo`"),
        (["--train_file", "TEXT_FILE"], "SFT needs 'messages' (chat), 'prompt' + 'completion', or 'instruction'"),
    ],
)
def test_bad_inputs_are_user_errors(tiny_lm, tmp_path, args, message):
    text_file = tmp_path / "d.jsonl"
    text_file.write_text("".join(json.dumps({"text": f"line {i}"}) + "\n" for i in range(30)))
    args = [str(text_file) if a == "TEXT_FILE" else a for a in args]
    with pytest.raises(UserError) as err:
        load_recipe("sft").main(["--model_name_or_path", str(tiny_lm), "--output_dir", str(tmp_path / "o"), *args])
    assert message in str(err.value) and "\n" not in str(err.value)


def test_lora_target_modules_stay_a_list():
    from hfrecipes.modeling import PretrainedModelArguments

    hub_model = {"model_name_or_path": "openai-community/gpt2"}  # not looked up until the recipe loads it
    assert PretrainedModelArguments(lora_target_modules=["c_attn"], **hub_model).lora_target_modules == ["c_attn"]
    assert PretrainedModelArguments(**hub_model).lora_target_modules == "all-linear"


def test_generate_chat_multi_turn_text_and_stdin(sft_run, tiny_lm, capsys, monkeypatch):
    from hfrecipes.cli import main as hfrecipes

    monkeypatch.setattr(sys, "argv", list(sys.argv))  # the hfrecipes command sets it for the recipe
    generate = load_recipe("generate")
    assert is_chat_model(str(sft_run), _tokenizer(sft_run)) and not is_chat_model(str(tiny_lm), _tokenizer(tiny_lm))
    sampling = ["--max_new_tokens", "12", "--seed", "1"]
    generate.main(
        ["--model_name_or_path", str(sft_run), "--prompt", "What is `os`?", "--prompt", "And `sys`?", *sampling]
    )
    chat = capsys.readouterr().out
    assert chat.count("user: ") == 2 and chat.count("assistant: ") == 2 and "user: And `sys`?" in chat
    hfrecipes(["generate", "--model_name_or_path", str(tiny_lm), "--prompt", "The json module", *sampling])
    text = capsys.readouterr().out.strip()
    assert text.startswith("The json module") and len(text) > len("The json module") and "assistant" not in text
    monkeypatch.setattr(sys, "stdin", io.StringIO("What is `re`?\n\nThanks\n"))
    generate.main(["--model_name_or_path", str(sft_run), "--temperature", "0", *sampling])
    greedy = capsys.readouterr().out
    assert greedy.count("assistant: ") == 2, "one reply per non-empty stdin line"
    monkeypatch.setattr(sys, "stdin", io.StringIO("What is `re`?\n\nThanks\n"))
    generate.main(["--model_name_or_path", str(sft_run), "--temperature", "0", *sampling])
    assert capsys.readouterr().out == greedy, "greedy decoding is deterministic"


def _tokenizer(path):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(path)
