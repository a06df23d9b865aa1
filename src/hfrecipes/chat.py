"""Chat data for SFT: the formats we read, their conversion to ``messages``, and the builtin questions and answers.

Every dataset becomes one ``messages`` column (lists of ``{"role", "content"}``), the conversational format TRL's
``SFTTrainer`` renders with the tokenizer's chat template:

- ``messages``: used as is;
- ``prompt`` + ``completion``: strings become a user and an assistant turn; lists of messages are concatenated;
- Alpaca ``instruction`` + ``output`` (optional ``input``, ``system``): the instruction, then the input after a
  blank line, is the user turn; the output is the assistant turn.

``builtin:python-docs`` becomes questions about the standard library answered from its documentation
("What does the function `json.dumps` do?"), with the corpus's own fixed train/validation split.
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

from .config import UserError

logger = logging.getLogger(__name__)

FORMATS = "'messages' (chat), 'prompt' + 'completion', or 'instruction' + 'output' (Alpaca, 'input' optional)"
MAX_ANSWER_CHARS = 240

QUESTIONS = {
    "function": "What does the function `{name}` do?",
    "method": "What does the method `{name}` do?",
    "class": "What is the class `{name}` for?",
    "module": "What is the `{name}` module for?",
    "topic": "Explain {title} in Python.",
}
_SIGNATURE = re.compile(r"^[\w.]+\(.*\)\s*(->.*)?$")


def to_messages(ds, split: str = "train"):
    """The dataset with one ``messages`` column, whatever supported format it came in."""
    columns = ds.column_names or list(next(iter(ds)).keys())
    if "messages" in columns:
        ds = ds.select_columns(["messages"])
    else:
        if {"prompt", "completion"} <= set(columns):
            convert = _from_prompt_completion
        elif {"instruction", "output"} <= set(columns):
            convert = _from_alpaca
        else:
            raise UserError(f"the {split} data has columns {', '.join(columns)}; SFT needs {FORMATS}")
        kwargs = {"desc": f"Converting {split} to messages"} if hasattr(ds, "__len__") else {}
        ds = ds.map(lambda row: {"messages": convert(row)}, remove_columns=columns, **kwargs)
    first = next(iter(ds))["messages"]
    if not isinstance(first, list) or not all(isinstance(m, dict) and {"role", "content"} <= set(m) for m in first):
        raise UserError(f"the {split} data's 'messages' must be lists of {{'role': ..., 'content': ...}} turns")
    return ds


def _from_prompt_completion(row: dict) -> list[dict]:
    prompt, completion = row["prompt"], row["completion"]
    if isinstance(prompt, str):
        prompt = [{"role": "user", "content": prompt}]
    if isinstance(completion, str):
        completion = [{"role": "assistant", "content": completion}]
    return [*prompt, *completion]


def _from_alpaca(row: dict) -> list[dict]:
    user = row["instruction"].strip()
    if (row.get("input") or "").strip():
        user += "\n\n" + row["input"].strip()
    messages = [{"role": "system", "content": row["system"]}] if row.get("system") else []
    return [*messages, {"role": "user", "content": user}, {"role": "assistant", "content": row["output"].strip()}]


def python_docs_chat():
    """``builtin:python-docs`` as a ``DatasetDict`` of ``messages``: a question per documented name.

    Functions and methods get a second turn asking for the signature, so some chats have two assistant turns.
    """
    from datasets import Dataset, DatasetDict

    from .corpus import load_python_docs

    docs = load_python_docs()
    splits = {}
    for split, ds in docs.items():
        chats = [chat for record in ds if (chat := _question_and_answer(record))]
        splits[split] = Dataset.from_dict({"messages": chats})
    return DatasetDict(splits)


def _question_and_answer(record: dict) -> list[dict] | None:
    header, _, doc = record["text"].partition("\n\n")
    kind = record["kind"]
    title = header.splitlines()[0]
    answer = _summary(doc)
    if answer is None or kind not in QUESTIONS:
        return None
    question = QUESTIONS[kind].format(name=record["name"], title=title[:1].lower() + title[1:])
    chat = [{"role": "user", "content": question}, {"role": "assistant", "content": answer}]
    if kind in ("function", "method") and len(header) <= 80:
        signature = header.replace("(self, ", "(").replace("(self)", "()")  # as the docs write methods
        chat += [
            {"role": "user", "content": "What is its signature?"},
            {"role": "assistant", "content": f"`{signature}`"},
        ]
    return chat


def _summary(doc: str) -> str | None:
    """The first prose paragraph of a docstring, on one line, cut after a sentence to stay short."""
    for paragraph in re.split(r"\n\s*\n", doc):
        text = " ".join(paragraph.split())
        is_code = paragraph[:1].isspace() or text.startswith(">>>") or _SIGNATURE.match(text)
        if is_code or len(text.split()) < 3:
            continue
        if len(text) > MAX_ANSWER_CHARS:
            cut = text.rfind(". ", 0, MAX_ANSWER_CHARS)
            text = text[: cut + 1] if cut > 40 else text[: text.rfind(" ", 0, MAX_ANSWER_CHARS)] + " ..."
        return text
    return None


def check_chat_template(tokenizer, name: str, chat_template_path: str | None = None) -> None:
    """SFT renders every chat with a template: the tokenizer's own or ``--chat_template_path``."""
    if chat_template_path is not None:
        if not Path(chat_template_path).exists() and chat_template_path.endswith((".jinja", ".j2")):
            raise UserError(f"chat template file not found: {chat_template_path}")
        return
    if not tokenizer.chat_template:
        raise UserError(
            f"the tokenizer of '{name}' has no chat template; set --chat_template_path to a .jinja file or to a "
            "tokenizer folder that has one (e.g. outputs/tokenizer from recipes/train_tokenizer.py)"
        )


def is_chat_model(name_or_path: str, tokenizer) -> bool:
    """True for a model trained to chat: a chat template, and for our output folders, one written by sft.py."""
    if not tokenizer.chat_template:
        return False
    folder = Path(name_or_path)
    for candidate in (folder, folder.parent):  # an output folder or one of its checkpoints
        info = candidate / "run_info.json"
        if info.is_file():
            return json.loads(info.read_text(encoding="utf-8")).get("recipe") == "sft"
    return True  # a Hub model that ships a chat template
