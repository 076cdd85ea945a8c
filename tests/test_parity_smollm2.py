"""Acceptance (slow): SmolLM2 GGUF -> `personax export` -> HF folder -> transformers; the NLL of a plain
English paragraph computed by transformers is within 1% of personax's on the same tokens."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from personax.cli import main
from personax.models import hub
from personax.models.transformer import causal_mask, positions_from_valid

pytestmark = pytest.mark.slow

PARAGRAPH = (
    "Every spring the river behind our village rises with melted snow from the hills. Children gather on "
    "the old stone bridge to watch branches and leaves race under the arches, while farmers check their "
    "fields for water damage. By early summer the current slows, the water turns clear again, and families "
    "come back to the banks for picnics in the long evenings."
)


def personax_nll(model, ids: list[int]) -> float:
    tokens_1xT = jnp.asarray([ids])
    valid_1xT = jnp.ones_like(tokens_1xT, bool)
    logits_1xTxV, _ = model(tokens_1xT, positions_from_valid(valid_1xT), causal_mask(valid_1xT))
    logp_TxV = jax.nn.log_softmax(logits_1xTxV[0, :-1].astype(jnp.float32), axis=-1)
    return float(-jnp.take_along_axis(logp_TxV, tokens_1xT[0, 1:, None], axis=-1).mean())


def transformers_nll(folder, ids: list[int]) -> float:
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32).eval()
    with torch.no_grad():
        return float(model(input_ids=torch.tensor([ids]), labels=torch.tensor([ids])).loss)


def test_smollm2_nll_matches_transformers_after_export(tmp_path):
    out = tmp_path / "smollm2-hf"
    assert main(["export", "--model", "smollm2-135m-instruct", "--out", str(out)]) == 0
    model, _, tokenizer = hub.load("smollm2-135m-instruct")
    ids = tokenizer.encode(PARAGRAPH)
    assert AutoTokenizer.from_pretrained(out)(PARAGRAPH)["input_ids"] == ids, "exported tokenizer differs"
    ours, theirs = personax_nll(model, ids), transformers_nll(out, ids)
    print(f"tokens={len(ids) - 1} personax_nll={ours:.5f} transformers_nll={theirs:.5f} "
          f"rel_diff={abs(ours - theirs) / theirs:.2e}")
    assert 0.5 < ours < 5.0, f"implausible NLL {ours} for plain English"
    assert abs(ours - theirs) / theirs < 0.01
    # personax reads its own export back to the same numbers.
    reloaded, _, _ = hub.load(out)
    np.testing.assert_allclose(personax_nll(reloaded, ids), ours, rtol=1e-5)
