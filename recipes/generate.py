"""Sample from a model: plain text for a pretrained model, chat (template applied, multi-turn) for an SFT model.

    hfrecipes generate outputs/pretrain --prompt "The json module"      # = --model_name_or_path outputs/pretrain
    hfrecipes generate --model_name_or_path outputs/sft --prompt 'What does the function `json.dumps` do?' \
        --prompt "What is its signature?"                  # two turns of one chat
    echo 'What is the `csv` module for?' | hfrecipes generate --model_name_or_path outputs/sft
    python recipes/generate.py --model_name_or_path gpt2 --prompt "Hello" --temperature 0   # Hub id, greedy

Each --prompt (or each stdin line) is a user turn. Chat mode is on for folders written by recipes/sft.py and for Hub
models with a chat template; --chat / --chat false forces it. Loads full models, merged or not, and LoRA adapter
folders (the base model comes from adapter_config.json).
"""

import sys
from dataclasses import dataclass, field

from hfrecipes.config import cli_main, parse_config


@dataclass
class GenerateArguments:
    model_name_or_path: str = field(default="outputs/sft", metadata={"help": "Output folder or Hub id."})
    prompt: list[str] | None = field(
        default=None, metadata={"help": "User turns (repeat --prompt); read from stdin lines when not given."}
    )
    chat: bool | None = field(default=None, metadata={"help": "Chat mode (default: detected from the model)."})
    system: str | None = field(default=None, metadata={"help": "System message opening the chat."})
    max_new_tokens: int = field(default=100, metadata={"help": "Tokens to generate per reply."})
    temperature: float = field(default=0.8, metadata={"help": "Sampling temperature; 0 is greedy."})
    top_k: int = field(default=50, metadata={"help": "Sample from the k most likely tokens (0: all)."})
    top_p: float = field(default=1.0, metadata={"help": "Nucleus sampling: smallest set with this probability."})
    seed: int = field(default=0, metadata={"help": "Random seed."})
    trust_remote_code: bool = field(default=False, metadata={"help": "Allow code from the Hub (off by default)."})

    def __post_init__(self):
        from hfrecipes.modeling import missing_local_folder

        if missing_local_folder(self.model_name_or_path):
            raise ValueError(
                f"no model folder at {self.model_name_or_path}; train one (recipes/sft.py) or give a Hub id"
            )


CONFIG_CLASSES = (GenerateArguments,)


def join_repeated(argv: list[str], flag: str = "--prompt") -> list[str]:
    """``--prompt a --prompt b`` (or ``--prompt=a --prompt=b``) gives two turns; argparse alone keeps the last one."""
    values, rest, i = [], [], 0
    while i < len(argv):
        if argv[i].startswith(f"{flag}="):
            values.append(argv[i].split("=", 1)[1])
            i += 1
        elif argv[i] == flag:
            i += 1
            while i < len(argv) and not argv[i].startswith("--"):
                values.append(argv[i])
                i += 1
        else:
            rest.append(argv[i])
            i += 1
    return rest + ([flag, *values] if values else [])


def model_argument(argv: list[str]) -> list[str]:
    """``generate FOLDER ...`` = ``generate --model_name_or_path FOLDER ...``, as ``push`` and ``report`` take a folder
    positionally or as a flag. The folder comes first; given both ways, it is an error."""
    if not argv or argv[0].startswith("-"):
        return argv
    flag = "--model_name_or_path"
    if any(a == flag or a.startswith(f"{flag}=") for a in argv[1:]):
        from hfrecipes.config import UserError

        raise UserError(f"the model is given twice ({argv[0]} and {flag}); give it once, either way")
    return [flag, *argv]


def user_turns(args: GenerateArguments):
    if args.prompt:
        yield from args.prompt
        return
    if sys.stdin.isatty():
        print("Type a message and press Enter; Ctrl-D ends.", file=sys.stderr)
    for line in sys.stdin:
        if line.strip():
            yield line.strip()


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    (args,) = parse_config(CONFIG_CLASSES, join_repeated(model_argument(argv)))
    from transformers import set_seed

    from hfrecipes.chat import is_chat_model
    from hfrecipes.config import UserError
    from hfrecipes.generation import chat_reply, generate_ids
    from hfrecipes.modeling import PretrainedModelArguments, load_causal_lm, load_tokenizer

    set_seed(args.seed)
    tokenizer = load_tokenizer(args.model_name_or_path, args.trust_remote_code, add_pad=False)
    chat = is_chat_model(args.model_name_or_path, tokenizer) if args.chat is None else args.chat
    if chat and not tokenizer.chat_template:
        raise UserError(f"'{args.model_name_or_path}' has no chat template; drop --chat to continue plain text")
    model = load_causal_lm(
        PretrainedModelArguments(model_name_or_path=args.model_name_or_path), args.trust_remote_code, tokenizer
    )
    sampling = {"max_new_tokens": args.max_new_tokens, "temperature": args.temperature}
    sampling |= {"top_k": args.top_k, "top_p": args.top_p}

    messages = [{"role": "system", "content": args.system}] if args.system else []
    for turn in user_turns(args):
        if chat:
            messages.append({"role": "user", "content": turn})
            reply = chat_reply(model, tokenizer, messages, **sampling)
            messages.append({"role": "assistant", "content": reply})
            print(f"user: {turn}\nassistant: {reply}\n", flush=True)
        else:
            ids = tokenizer(turn, add_special_tokens=False)["input_ids"]
            prompt_ids, new_ids = generate_ids(model, tokenizer, ids, **sampling)
            print(tokenizer.decode(prompt_ids + new_ids, skip_special_tokens=True) + "\n", flush=True)


if __name__ == "__main__":
    cli_main(main)
