"""Test set-up: 8 fake CPU devices (set before jax is imported anywhere)."""
import os

os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=8")
os.environ.setdefault("JAX_PLATFORMS", "cpu")

import pathlib

import pytest

SHARED_DATA = pathlib.Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> pathlib.Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared data not found at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture(scope="module")
def prefeval_tiny(shared_data, tmp_path_factory):
    """(model, tokenizer): a random tiny deployed model whose sentencepiece tokenizer is trained on
    PrefEval's own texts (the PrefEval MCQ and runner tests)."""
    import json

    from flax import nnx

    from personax.eval.prefeval.mcq import LETTERS
    from personax.models.config import get_config
    from personax.models.registry import tiny_llama  # noqa: F401  (registers the tiny configs)
    from personax.models.transformer import DecoderLM
    from personax.tokenizers import train_sentencepiece

    records = json.loads((shared_data / "prefeval" / "mcq_options" / "travel_hotel.json").read_text())
    texts = [t for r in records for t in (r["preference"], r["question"], *r["classification_task_options"])]
    path = tmp_path_factory.mktemp("tok") / "tok.model"
    tok = train_sentencepiece(texts + list(LETTERS), path, vocab_size=400)
    model = DecoderLM(get_config("tiny").replace(vocab_size=tok.vocab_size, max_seq_len=512), nnx.Rngs(0))
    return model, tok


@pytest.fixture(scope="module")
def smoke_data(tmp_path_factory):
    """The smoke config's sim data (30 personas, 6 held out), no training: WORKDIR/data of a fresh workdir."""
    from helpers import smoke_eval_config
    from personax.train.data_stage import run_data
    root = tmp_path_factory.mktemp("smoke_data")
    run_data(smoke_eval_config(), root)
    return root
