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

from .errors import UserError

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


ROLES = ("system", "user", "assistant", "tool")  # the roles a message may have (and a few templates' own)
_OTHER_ROLES = ("developer", "ipython")
TURNS = "'messages' must be lists of {'role': ..., 'content': ...} turns with a string content"


class _RowProblem(ValueError):
    """What is wrong with one row, without the row's number (the caller adds it)."""


def to_messages(ds, split: str = "train"):
    """The dataset with one ``messages`` column, whatever supported format it came in.

    Rows are checked as they are converted (a stream: as it is read): a row that is not a chat of
    ``{"role", "content"}`` turns with a known role and string content is an error naming the row
    (``the train data row N: ...``). A ``messages`` column used as is is checked without a pass in Python where its
    type already says each turn is a role and a content string (see :func:`check_messages`).
    """
    columns = ds.column_names or list(next(iter(ds)).keys())
    streaming = not hasattr(ds, "__len__")
    if "messages" in columns:
        ds = ds.select_columns(["messages"])
        if streaming:
            ds = ds.map(lambda row, i: _checked(row["messages"], i, split), with_indices=True)
        else:
            check_messages(ds, split)
    else:
        if {"prompt", "completion"} <= set(columns):
            convert = _from_prompt_completion
        elif {"instruction", "output"} <= set(columns):
            convert = _from_alpaca
        else:
            raise UserError(f"the {split} data has columns {', '.join(columns)}; SFT needs {FORMATS}")

        def converted(row, i):
            try:
                messages = convert(row)
            except _RowProblem as problem:
                raise UserError(f"the {split} data row {i + 1}: {problem}") from None
            return _checked(messages, i, split)

        kwargs = {"desc": f"Converting {split} to messages"} if not streaming else {}
        ds = ds.map(converted, with_indices=True, remove_columns=columns, **kwargs)
    if streaming:
        next(iter(ds), None)  # the first row now, not at the first training step
    return ds


def messages_problem(messages) -> str | None:
    """What is wrong with one row's ``messages`` (a list of ``{"role", "content"}`` turns), or ``None``."""
    if not isinstance(messages, list):
        return f"'messages' is {_kind(messages)}, not a list of turns"
    if not messages:
        return "'messages' is an empty list, with no turns"
    for k, turn in enumerate(messages, 1):
        if not isinstance(turn, dict):
            return f"turn {k} is {_kind(turn)}, not a {{'role': ..., 'content': ...}} object"
        role = turn.get("role")
        if role is None:
            sharegpt = " (ShareGPT turns: rename 'from'/'value' to 'role'/'content', human/gpt to user/assistant)"
            return f"turn {k} has no 'role' ({', '.join(ROLES)}){sharegpt if 'from' in turn else ''}"
        if role not in ROLES + _OTHER_ROLES:
            return f"turn {k} has role {role!r}, not one of {', '.join(ROLES)}"
        content = turn.get("content")
        if content is None:
            return f"turn {k} has no 'content'"
        if not isinstance(content, str):
            return f"turn {k}'s content is {_kind(content)}, not a string"
    return None


def _kind(value) -> str:
    if value is None:
        return "null"
    kinds = {dict: "an object", list: "a list", str: "a string", bool: "a boolean", int: "a number", float: "a number"}
    return kinds.get(type(value), f"a {type(value).__name__}")


def _checked(messages, i: int, split: str) -> dict:
    if problem := messages_problem(messages):
        raise UserError(f"the {split} data row {i + 1}: {problem}; {TURNS}")
    return {"messages": messages}


def check_messages(ds, split: str = "train") -> None:
    """Raises ``UserError`` naming the first row of a map-style dataset whose ``messages`` are not a chat.

    Where the column's type is a list of ``{role: string, content: string, ...}`` structs, only nulls, empty chats
    and unknown roles are possible: those are found with Arrow compute, a batch at a time, without building Python
    objects. Any other type (mixed types stored as JSON, other fields) is checked row by row.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    start = 0
    if not _typed_turns(ds.features["messages"]):
        for batch in ds.iter(batch_size=1000):
            for j, messages in enumerate(batch["messages"]):
                _checked(messages, start + j, split)
            start += len(batch["messages"])
        return
    roles = pa.array(ROLES + _OTHER_ROLES)
    for table in ds.with_format("arrow").iter(batch_size=10_000):
        chats = table.column("messages").combine_chunks()
        empty = pc.fill_null(pc.equal(pc.list_value_length(chats), 0), True)  # null or no turns
        turns = pc.list_flatten(chats)
        known = pc.fill_null(pc.is_in(pc.struct_field(turns, "role"), value_set=roles), False)
        bad_turn = pc.fill_null(pc.or_(pc.invert(known), pc.is_null(pc.struct_field(turns, "content"))), True)
        rows = [pc.index(empty, True).as_py()]
        if (turn := pc.index(bad_turn, True).as_py()) >= 0:
            rows.append(pc.list_parent_indices(chats)[turn].as_py())
        if bad := [r for r in rows if r >= 0]:
            _checked(ds[start + min(bad)]["messages"], start + min(bad), split)
        start += len(table)


def _typed_turns(feature) -> bool:
    """Whether a ``messages`` feature is a list of structs with a string ``role`` and a string ``content``."""
    from datasets import LargeList, List, Value

    inner = feature.feature if isinstance(feature, List | LargeList) else None
    if isinstance(feature, list) and len(feature) == 1:
        inner = feature[0]
    return isinstance(inner, dict) and all(inner.get(k) == Value("string") for k in ("role", "content"))


def _from_prompt_completion(row: dict) -> list[dict]:
    prompt, completion = row["prompt"], row["completion"]
    for name, value in (("prompt", prompt), ("completion", completion)):
        if not isinstance(value, str | list):
            raise _RowProblem(f"'{name}' is {_kind(value)}, not a string or a list of turns; give every row both")
    if isinstance(prompt, str):
        prompt = [{"role": "user", "content": prompt}]
    if isinstance(completion, str):
        completion = [{"role": "assistant", "content": completion}]
    return [*prompt, *completion]


def _from_alpaca(row: dict) -> list[dict]:
    for name in ("instruction", "output", "input", "system"):
        value = row.get(name)
        if not isinstance(value, str) and (name in ("instruction", "output") or value is not None):
            raise _RowProblem(f"'{name}' is {_kind(value)}, not a string; give every row an instruction and an output")
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
    """A ``--chat_template_path`` must exist when it names a template file (a folder or Hub id is TRL's to load)."""
    if chat_template_path is not None:
        if not Path(chat_template_path).exists() and chat_template_path.endswith((".jinja", ".j2")):
            raise UserError(f"chat template file not found: {chat_template_path}")


def write_chatml_source(folder: str | Path) -> str:
    """A minimal tokenizer folder holding only the ChatML template and its tokens, for ``trl.clone_chat_template``.

    The fallback for a base model with no chat template (GPT-2, Llama 3 base, see :func:`prepare_chat_training`):
    cloned from this folder, TRL copies the template, adds ``<|im_start|>``/``<|im_end|>`` to the tokenizer, makes
    ``<|im_end|>`` the EOS (tokenizer, model config, generation config) and resizes the embedding. The template marks
    assistant turns with ``{% generation %}`` for the loss mask.
    """
    from tokenizers import Tokenizer, models
    from transformers import PreTrainedTokenizerFast

    from .tokenization import CHAT_TEMPLATE, CHAT_TOKENS

    vocab = {token: i for i, token in enumerate(CHAT_TOKENS)}
    source = PreTrainedTokenizerFast(
        tokenizer_object=Tokenizer(models.WordLevel(vocab, unk_token=CHAT_TOKENS[0])),
        eos_token=CHAT_TOKENS[1],
        additional_special_tokens=CHAT_TOKENS,
    )
    source.chat_template = CHAT_TEMPLATE
    source.save_pretrained(folder)
    return str(folder)


def end_of_turn_token(tokenizer) -> str | None:
    """The special token the chat template closes an assistant turn with (``<|im_end|>``, ``<|eot_id|>``), if any.

    SFT makes it the EOS, so the model learns to stop there and generation halts at it, whatever the tokenizer's
    own EOS is (our tokenizers: ``<|endoftext|>`` between documents, ``<|im_end|>`` between turns).
    """
    marker = "\u2063MARK\u2063"
    chat = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": marker}]
    try:
        text = tokenizer.apply_chat_template(chat, tokenize=False)
    except Exception:  # a template that needs other roles or fields: leave the EOS alone
        return None
    rest = text[text.index(marker) + len(marker) :] if marker in text else ""
    specials = sorted({*tokenizer.all_special_tokens, *tokenizer.get_added_vocab()}, key=len, reverse=True)
    return next((t for t in specials if t and rest.lstrip(" ").startswith(t)), None)


def trains_assistant_turns(tokenizer) -> bool:
    """Whether TRL can mask labels to the assistant turns with this template: it has ``{% generation %}`` markers,
    or TRL ships a training variant of it (Qwen2.5, Qwen3, Llama 3, Gemma, Phi-3, ...)."""
    from trl.chat_template_utils import get_training_chat_template, has_generation_markers

    if has_generation_markers(tokenizer.chat_template):
        return True
    try:
        return get_training_chat_template(tokenizer) is not None
    except ValueError:
        return False


def split_assistant_turns(ds):
    """Each assistant turn as a conversational prompt-completion row: the chat up to it, and the turn.

    For templates TRL cannot mark (SmolLM2, Llama 3.2): TRL's completion-only loss then masks each row to its one
    assistant turn, so every assistant turn is learned once and nothing else is, as ``assistant_only_loss`` would.
    """

    def split(batch):
        prompts, completions = [], []
        for chat in batch["messages"]:
            for i, message in enumerate(chat):
                if message["role"] == "assistant" and i > 0:
                    prompts.append(chat[:i])
                    completions.append([message])
        return {"prompt": prompts, "completion": completions}

    kwargs = {"desc": "One row per assistant turn"} if hasattr(ds, "__len__") else {}
    return ds.map(split, batched=True, remove_columns=["messages"], **kwargs)


def is_chat_model(name_or_path: str, tokenizer) -> bool:
    """True for a model trained to chat: a chat template, and for our output folders, a run that says it made a chat
    model (``"chat": true`` in run_info.json, written by sft.py and any recipe copied from it)."""
    if not tokenizer.chat_template:
        return False
    folder = Path(name_or_path)
    for candidate in (folder, folder.parent):  # an output folder or one of its checkpoints
        info = candidate / "run_info.json"
        if info.is_file():
            return bool(json.loads(info.read_text(encoding="utf-8")).get("chat"))
    return True  # a Hub model that ships a chat template


def _with_template(tokenizer, chat_template_path: str | None):
    """The tokenizer as it will be once TRL applies a ``--chat_template_path`` .jinja file.

    A tokenizer folder or Hub id is cloned by TRL (``clone_chat_template``), which sets the EOS itself.
    """
    if chat_template_path is None:
        return tokenizer
    if not Path(chat_template_path).is_file():
        return None
    import copy

    tokenizer = copy.copy(tokenizer)
    tokenizer.chat_template = Path(chat_template_path).read_text(encoding="utf-8")
    return tokenizer


def prepare_chat_training(model, tokenizer, training_args, raw, name: str, peft_config=None):
    """Fits SFT to the model's tokenizer before ``SFTTrainer`` is built; returns the model and the data to train on.

    - No chat template (a base model) and no ``--chat_template_path``: ChatML, cloned in with TRL's
      ``clone_chat_template`` from :func:`write_chatml_source` (tokens added, ``<|im_end|>`` the EOS, embedding
      resized). Under LoRA the embedding (and an untied output layer) train whole, so the new tokens' rows learn.
    - ``eos_token`` unset: the template's end-of-turn token (:func:`end_of_turn_token`) where it differs from EOS.
    - ``assistant_only_loss`` with a template TRL cannot mark: one prompt-completion row per assistant turn.
    """
    if training_args.chat_template_path is None and not tokenizer.chat_template:
        import tempfile

        from trl import clone_chat_template

        logger.warning(
            "'%s' has no chat template: using ChatML (<|im_start|>/<|im_end|> added, <|im_end|> as EOS, embedding "
            "resized); set --chat_template_path to a tokenizer or .jinja file to choose another",
            name,
        )
        with tempfile.TemporaryDirectory() as scratch:
            model, tokenizer, added = clone_chat_template(model, tokenizer, write_chatml_source(scratch))
        if peft_config is not None and added:
            # The new tokens' rows must train: the embedding (and an untied output layer) as modules_to_save, kept
            # tied. peft's trainable_token_indices would be lighter, but TRL's fused LM head cannot read through its
            # wrapper (no `bias`), and TRL keys it 'embed_tokens', which GPT-2 (`wte`) does not have.
            layers = [model.get_input_embeddings(), model.get_output_embeddings()]
            names = {m: n.rsplit(".", 1)[-1] for n, m in model.named_modules() if any(m is x for x in layers)}
            saved = [names[layer] for layer in layers if layer is not None]
            peft_config.modules_to_save = [*(peft_config.modules_to_save or []), *saved]
            peft_config.ensure_weight_tying = layers[1] is not None and layers[1].weight is layers[0].weight
        return model, raw
    templated = _with_template(tokenizer, training_args.chat_template_path)  # None: TRL clones a tokenizer's
    if templated is None or not templated.chat_template:
        return model, raw
    turn_end = end_of_turn_token(templated)
    if training_args.eos_token is None and turn_end and turn_end != tokenizer.eos_token:
        if turn_end in tokenizer.get_vocab():
            logger.info("EOS set to %s, the token that ends an assistant turn in the chat template", turn_end)
            training_args.eos_token = turn_end
    if training_args.assistant_only_loss and not trains_assistant_turns(templated):
        logger.info(
            "The chat template of '%s' has no {%% generation %%} markers and TRL has no training version of it: "
            "each assistant turn becomes a prompt-completion row, with the loss on that turn only",
            name,
        )
        training_args.assistant_only_loss = False
        training_args.completion_only_loss = True
        raw = type(raw)({split: split_assistant_turns(ds) for split, ds in raw.items()})
    return model, raw
