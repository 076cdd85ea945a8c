"""Chat templates: sandboxed jinja rendering as transformers does it, and the built-in named templates."""
from __future__ import annotations

import dataclasses
import datetime
import functools
import json
from collections.abc import Callable, Sequence

import jinja2
import jinja2.ext
from jinja2.sandbox import ImmutableSandboxedEnvironment


@dataclasses.dataclass(frozen=True)
class ChatFormat:
    template: str
    end_of_turn: str
    special_tokens: tuple[str, ...]  # pieces a from-scratch vocabulary needs as single tokens


# For tokenizers that ship no template (e.g. a sentencepiece model trained here). None adds a default system
# prompt: the caller decides what the model is told.
BUILTIN_TEMPLATES: dict[str, ChatFormat] = {
    "chatml": ChatFormat(
        template=("{% for message in messages %}"
                  "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>\n' }}"
                  "{% endfor %}"
                  "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"),
        end_of_turn="<|im_end|>",
        special_tokens=("<|im_start|>", "<|im_end|>")),
    "llama3": ChatFormat(
        template=("{{ bos_token }}"
                  "{% for message in messages %}"
                  "{{ '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'"
                  " + message['content'] | trim + '<|eot_id|>' }}"
                  "{% endfor %}"
                  "{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}"),
        end_of_turn="<|eot_id|>",
        special_tokens=("<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>")),
    # Gemma has no system role: the system text opens the first user turn, and the assistant is 'model'.
    "gemma": ChatFormat(
        template=("{{ bos_token }}"
                  "{% set ns = namespace(system='') %}"
                  "{% for message in messages %}"
                  "{% if message['role'] == 'system' %}{% set ns.system = message['content'] + '\n\n' %}"
                  "{% else %}"
                  "{{ '<start_of_turn>' + ('model' if message['role'] == 'assistant' else message['role']) + '\n'"
                  " + ns.system + message['content'] | trim + '<end_of_turn>\n' }}"
                  "{% set ns.system = '' %}"
                  "{% endif %}"
                  "{% endfor %}"
                  "{% if add_generation_prompt %}{{ '<start_of_turn>model\n' }}{% endif %}"),
        end_of_turn="<end_of_turn>",
        special_tokens=("<start_of_turn>", "<end_of_turn>")),
}

# End-of-turn pieces of the common template families; a shipped template that writes one of them stops on it.
END_OF_TURN_MARKERS: tuple[str, ...] = tuple(dict.fromkeys(
    [fmt.end_of_turn for fmt in BUILTIN_TEMPLATES.values()] + ["<|eom_id|>", "<|end|>", "<|return|>"]))


def resolve_template(name_or_source: str) -> str:
    if name_or_source in BUILTIN_TEMPLATES:
        return BUILTIN_TEMPLATES[name_or_source].template
    if "{" not in name_or_source:
        raise ValueError(f"unknown chat template {name_or_source!r}: expected one of {sorted(BUILTIN_TEMPLATES)} "
                         "or a jinja template source")
    return name_or_source


def template_for_vocabulary(is_special: Callable[[str], bool]) -> str | None:
    """The built-in template whose markers are all special single tokens of a vocabulary, if any: the format
    that vocabulary was made for, when it ships no template of its own."""
    for fmt in BUILTIN_TEMPLATES.values():
        if all(is_special(token) for token in fmt.special_tokens):
            return fmt.template
    return None


def _raise_exception(message: str):
    raise jinja2.exceptions.TemplateError(message)


def _tojson(value, ensure_ascii=False, indent=None, separators=None, sort_keys=False) -> str:
    # jinja's own tojson escapes HTML characters, which would change the prompt text.
    return json.dumps(value, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)


class _GenerationTag(jinja2.ext.Extension):
    """`{% generation %}...{% endgeneration %}`: transformers marks assistant spans with it; the text is the body."""

    tags = {"generation"}

    def parse(self, parser):
        lineno = next(parser.stream).lineno
        body = parser.parse_statements(("name:endgeneration",), drop_needle=True)
        return jinja2.nodes.CallBlock(self.call_method("_body"), [], [], body).set_lineno(lineno)

    def _body(self, caller) -> str:
        return caller()


@functools.lru_cache(maxsize=16)
def _compile(source: str) -> jinja2.Template:
    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
                                        extensions=[jinja2.ext.loopcontrols, _GenerationTag])
    env.filters["tojson"] = _tojson
    env.globals["raise_exception"] = _raise_exception
    env.globals["strftime_now"] = lambda fmt: datetime.datetime.now().strftime(fmt)
    return env.from_string(source)


def _check_messages(messages: Sequence[dict]) -> list[dict]:
    if isinstance(messages, (str, bytes)) or not isinstance(messages, Sequence):
        raise TypeError(f"messages must be a list of {{'role', 'content'}} dicts, got {type(messages).__name__}")
    for i, message in enumerate(messages):
        if not isinstance(message, dict) or not isinstance(message.get("role"), str) \
                or not isinstance(message.get("content"), str):
            raise ValueError(f"messages[{i}] must be a dict with string 'role' and 'content', got {message!r}")
    return [dict(m) for m in messages]


def render(source: str, messages: Sequence[dict], add_generation_prompt: bool, variables: dict) -> str:
    """Render `source` exactly as transformers' apply_chat_template(tokenize=False) would."""
    template = _compile(source)
    # Extra variables (tools, documents, enable_thinking, ...) pass through, as in transformers.
    return template.render(**{"tools": None, "documents": None, **variables}, messages=_check_messages(messages),
                           add_generation_prompt=add_generation_prompt)
