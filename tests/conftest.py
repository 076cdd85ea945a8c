"""Test set-up (before jax is imported anywhere): 8 fake CPU devices, and one persistent compilation
cache for the whole session, shared by xdist workers and the `personax` subprocesses the end-to-end
tests start, so a step function compiled once is loaded, not compiled, by every later process that
builds the same one (docs/benchmarks.md, "Test suite time"). The cache is removed when the session ends."""
import atexit
import os
import shutil
import tempfile

os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=8")
os.environ.setdefault("JAX_PLATFORMS", "cpu")
if "JAX_COMPILATION_CACHE_DIR" not in os.environ:  # set by the user, or by the controller for an xdist worker
    os.environ["JAX_COMPILATION_CACHE_DIR"] = tempfile.mkdtemp(prefix="personax-test-jax-cache-")
    atexit.register(shutil.rmtree, os.environ["JAX_COMPILATION_CACHE_DIR"], ignore_errors=True)
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")  # tiny models compile in under 1 s

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
