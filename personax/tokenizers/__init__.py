"""personax tokenizers: byte-level BPE (HF tokenizer.json or GGUF), sentencepiece (.model or GGUF), and chat
templates.

Public API (stable; see docs/tokenizers.md):

    tok = load_tokenizer(path)            # .gguf | .model | tokenizer.json | folder with one of them
    ids = tok.encode(text)                # post-processor applied (e.g. BOS) as transformers would
    text = tok.decode(ids)                # skip_special_tokens=True by default
    tok.vocab_size, tok.bos_id, tok.eos_id, tok.pad_id, tok.token_to_id(s), tok.id_to_token(i)
    prompt = tok.apply_chat_template(messages, add_generation_prompt=True)   # text, as transformers renders it
    ids = tok.encode_chat(messages)       # the prompt's ids, without a second BOS
    tok.stop_token_ids                    # end-of-turn tokens of the template, then EOS
    tok.set_chat_template("chatml")       # a BUILTIN_TEMPLATES name or a jinja source

    load_gguf(path, reader=open_reader)   # reuse a gguf.GGUFReader the model loader already opened
    save_hf_tokenizer(tok, folder)        # files transformers.AutoTokenizer loads to the same ids (BPE: tokenizer.json;
                                          # sentencepiece BPE trained here: tokenizer.model + GemmaTokenizer config)
    train_sentencepiece(texts, "m.model", vocab_size=8000, model_type="bpe", chat_template="chatml")

Errors about files are `TokenizerError` (a ValueError) naming the file and what was expected.
"""
from personax.tokenizers.base import Tokenizer, TokenizerError
from personax.tokenizers.bpe_tokenizer import BPETokenizer
from personax.tokenizers.chat import BUILTIN_TEMPLATES
from personax.tokenizers.export import save_hf_tokenizer
from personax.tokenizers.gguf_loader import load_gguf
from personax.tokenizers.hf_json import load_hf_bpe
from personax.tokenizers.loader import load_tokenizer
from personax.tokenizers.sentencepiece_tokenizer import SentencePieceTokenizer, train_sentencepiece

__all__ = [
    "BUILTIN_TEMPLATES", "BPETokenizer", "SentencePieceTokenizer", "Tokenizer", "TokenizerError",
    "load_gguf", "load_hf_bpe", "load_tokenizer", "save_hf_tokenizer", "train_sentencepiece",
]
