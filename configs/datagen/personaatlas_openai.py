"""PersonaAtlas at the paper's scale with hosted LLMs (SPEC §1; the reference's roles and pools).

    export OPENROUTER_API_KEY=...
    personax datagen --config configs/datagen/personaatlas_openai.py --workdir runs/personaatlas

Runs against OpenRouter (one endpoint serves every role, including the 8-model assistant pool);
point `--config.roles.<role>.base_url` elsewhere for OpenAI, vLLM, Ollama... Seeds: put
UltraChat-200k and MBPP prompts in JSONL files (one {"text": ...} per line) under seeds/; ARC and
MathQA come from TFDS once prepared (`tfds build ai2_arc math_qa`); nothing is downloaded here.

Scale: 2,100 personas x 5 = 10,500 conversations, ~10 LLM calls each. With 20 conversations in
flight and a few seconds per call, expect roughly 6 hours; shard over machines with
`--config.shard_index=i --config.num_shards=n`. Expected result (the reference's figures): about
10.4K conversations from about 2.1K personas, 2.2-3.1 turns per conversation, ~25% of user
messages noised, ~17.7K tokens per conversation, most of them in the simulation. Interrupt at
any time and rerun the same command: it continues, and the response cache pays nothing twice.
Prices: only gpt-4o-mini is filled in; add your provider's current rates (unpriced models are
listed under `unpriced_models` in token_usage.json).
"""
from data_gen.config import base_config, role
from personax.llm.pool import PAPER_ASSISTANT_POOL

ENDPOINT = dict(base_url="https://openrouter.ai/api/v1", api_key_env="OPENROUTER_API_KEY",
                concurrency=32, timeout_s=120.0, max_retries=6,
                prices=(("openai/gpt-4o-mini", 0.15, 0.60),))


def get_config():
    c = base_config()
    c.num_personas = 2100
    c.conversations_per_persona = 5
    c.concurrency = 20  # the reference's 20 workers
    c.conversation_retries = 3
    c.supplement_rounds = 3
    c.seed_sources = ("jsonl:seeds/ultrachat_200k.jsonl", "jsonl:seeds/mbpp.jsonl",
                      "tfds:ai2_arc/ARC-Challenge:train:question:1119", "tfds:math_qa:train:Problem:4000")
    strong = "openai/gpt-5.2"
    c.roles = dict(
        style=role("hosted", "openrouter", models=((strong, 1.0),), temperature=0.7, **ENDPOINT),
        user=role("hosted", "openrouter", models=((strong, 1.0),), temperature=0.8, **ENDPOINT),
        assistant=role("hosted", "openrouter", models=PAPER_ASSISTANT_POOL, temperature=0.7, **ENDPOINT),
        distractor=role("hosted", "openrouter", models=((strong, 1.0),), temperature=0.7, **ENDPOINT),
        others=role("hosted", "openrouter", models=((strong, 1.0),), temperature=0.9, **ENDPOINT),
    )
    return c
