"""Learned Bradley–Terry reward model: loss, pairs files, training on separable pairs, checkpoint
round trip and resume, the `learned_rm` reward, sim-world pairs, the command."""
import argparse
import asyncio
import json
import math
import pathlib
import random

import jax.numpy as jnp
import numpy as np
import pytest

from personax.cli import UserError
from personax.commands import reward_model as command
from personax.data.examples import PPOptExample
from personax.data.fields import RecordError
from personax.data.importers import load, to_examples
from personax.data.policy_io import parse_output
from personax.rewards import REWARDS, Answers, RewardContext, RolloutBatch, get_rewards_config
from personax.rewards.learned import build_scorer, get_learned_rm_config
from personax.train.metrics import read_metrics
from personax.train.reward_model import PreferencePair, read_pairs, split_pairs, write_pairs
from personax.train.reward_model.data import train_indices
from personax.train.reward_model.loss import bt_terms
from personax.train.reward_model.scorer import RewardScorer
from personax.train.reward_model.sim_pairs import build_sim_pairs

STEPS = 40
CONFIG = '''
from personax.train.experiment import experiment
from personax.train.reward_model import get_reward_model_config

def get_config():
    c = experiment()
    c.progress = False
    c.model.update(name="tiny", init="scratch", vocab_size=512, max_seq_len=256)
    c.lora.rank = 0
    c.reward_model = get_reward_model_config()
    c.reward_model.update(pairs="PAIRS", max_len=48, batch_size=16, steps=40, peak_lr=3e-3, end_lr=1e-3,
                          warmup_steps=5, eval_every=20, checkpoint_every=40)
    return c
'''
WORDS = "plan trip budget email manager report code python summary weekly review data chart".split()
STYLES = ("a table", "bullets")


def separable_pairs(n: int, seed: int = 0) -> list[PreferencePair]:
    """The context names the user's format; the chosen rewrite asks for it, the rejected for the other."""
    rng = random.Random(seed)
    pairs = []
    for _ in range(n):
        q = " ".join(rng.choice(WORDS) for _ in range(6))
        like, other = rng.sample(STYLES, 2)
        pairs.append(PreferencePair(f"The user asked for {like} before.\nQuery: {q}",
                                    f"{q} Format the answer as {like}.", f"{q} Format the answer as {other}."))
    return pairs


def write_config(folder: pathlib.Path, pairs_path: pathlib.Path) -> pathlib.Path:
    path = folder / "rm_config.py"
    path.write_text(CONFIG.replace("PAIRS", str(pairs_path)))
    return path


def run_command(action, config, workdir, overrides=(), out=None, pairs=None) -> int:
    return command.run(argparse.Namespace(action=action, config=str(config), workdir=workdir, out=out, split="rl",
                                          pairs=pairs, config_overrides=list(overrides)))


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    folder = tmp_path_factory.mktemp("rm")
    pairs = separable_pairs(160)
    write_pairs(folder / "pairs.jsonl", pairs)
    config = write_config(folder, folder / "pairs.jsonl")
    assert run_command("train", config, folder / "work") == 0
    return folder / "work" / "reward_model", pairs, config


def test_bt_terms_match_numpy():
    rng = np.random.default_rng(0)
    rc, rr = rng.normal(size=12) * 3, rng.normal(size=12) * 3
    w = np.ones(12)
    w[-3:] = 0.0  # padding rows count for nothing
    objective, m = bt_terms(jnp.asarray(rc), jnp.asarray(rr), jnp.asarray(w), center_coef=0.1)
    k = w > 0
    bt = np.mean(-np.log(1.0 / (1.0 + np.exp(-(rc[k] - rr[k])))))
    center = np.mean((rc[k] ** 2 + rr[k] ** 2) / 2)
    np.testing.assert_allclose(float(m["loss"]), bt, rtol=1e-5)
    np.testing.assert_allclose(float(objective), bt + 0.1 * center, rtol=1e-5)
    np.testing.assert_allclose(float(m["accuracy"]), np.mean(rc[k] > rr[k]), rtol=1e-6)
    np.testing.assert_allclose(float(m["margin"]), np.mean(rc[k] - rr[k]), rtol=1e-5)
    assert float(m["pairs"]) == 9
    # Stable far out in the tails, where log(sigmoid) computed naively overflows.
    _, m = bt_terms(jnp.asarray([-200.0, 200.0]), jnp.asarray([0.0, 0.0]), jnp.ones(2))
    np.testing.assert_allclose(float(m["loss"]), 100.0, rtol=1e-5)


@pytest.mark.parametrize("line,field,problem", [
    ('{"context": "c", "chosen": "a"', "<record>", "not valid JSON"),
    ('{"context": "c", "chosen": "a"}', "rejected", "missing; expected a string"),
    ('{"context": "c", "chosen": 3, "rejected": "b"}', "chosen", "expected a string, got int"),
    ('{"context": " ", "chosen": "a", "rejected": "b"}', "context", "expected a non-empty string"),
    ('{"context": "c", "chosen": "a", "rejected": "a"}', "rejected", "identical to 'chosen'"),
    ('{"context": "c", "chosen": "a", "rejected": "b", "margin": "big"}', "margin", "expected a number"),
    ('["c", "a", "b"]', "<record>", "expected an object, got list"),
])
def test_bad_pair_files_name_file_line_and_field(tmp_path, line, field, problem):
    path = tmp_path / "pairs.jsonl"
    path.write_text('{"context": "c", "chosen": "a", "rejected": "b"}\n\n' + line + "\n")
    with pytest.raises(RecordError) as err:
        read_pairs(path)
    assert err.value.where == f"{path}:3" and err.value.field == field and problem in str(err.value)


def test_pair_file_round_trip_missing_and_empty(tmp_path):
    pairs = [PreferencePair("ctx", "good", "bad", "p0", 0.5), PreferencePair("ctx 2", "x", "y")]
    write_pairs(tmp_path / "p.jsonl", pairs)
    assert read_pairs(tmp_path / "p.jsonl") == pairs
    with pytest.raises(FileNotFoundError, match="nope.jsonl"):
        read_pairs(tmp_path / "nope.jsonl")
    (tmp_path / "empty.jsonl").write_text("\n")
    with pytest.raises(ValueError, match="no preference pairs"):
        read_pairs(tmp_path / "empty.jsonl")


def test_split_keeps_each_context_on_one_side():
    pairs = [PreferencePair(f"context {i % 50}", f"a{i}", f"b{i}") for i in range(200)]
    train, held = split_pairs(pairs, 0.2, seed=0)
    assert len(train) + len(held) == 200 and 0.1 < len(held) / 200 < 0.3
    assert not {p.context for p in train} & {p.context for p in held}
    assert split_pairs(pairs, 0.2, seed=0) == (train, held)


def test_train_indices_cover_each_epoch_and_depend_only_on_seed_and_step():
    rows = np.concatenate([train_indices(10, 5, seed=1, step=s) for s in range(4)])
    assert sorted(rows[:10]) == list(range(10)) and sorted(rows[10:]) == list(range(10))
    np.testing.assert_array_equal(train_indices(10, 5, 1, 3), rows[15:])
    assert not np.array_equal(train_indices(10, 5, 2, 0), rows[:5])


def test_separable_pairs_reach_high_held_out_accuracy(trained):
    rm_dir, _, _ = trained
    rows = read_metrics(rm_dir)
    assert [r["step"] for r in rows] == list(range(1, STEPS + 1))
    assert abs(rows[0]["loss"] - math.log(2)) < 0.05  # an untrained head: no preference yet
    evals = [r for r in rows if r.get("eval/accuracy") is not None]
    assert [r["step"] for r in evals] == [20, 40]
    assert evals[-1]["eval/pairs"] >= 20 and evals[-1]["eval/accuracy"] >= 0.95 and evals[-1]["eval/loss"] < 0.3


def test_checkpoint_round_trip_reproduces_the_held_out_evaluation(trained):
    rm_dir, pairs, _ = trained
    scorer = RewardScorer.load(rm_dir)
    assert scorer.step == STEPS
    _, held = split_pairs(pairs, 0.2, seed=0)
    contexts = [p.context for p in held]
    margin = scorer.score(contexts, [p.chosen for p in held]) - scorer.score(contexts, [p.rejected for p in held])
    last = read_metrics(rm_dir)[-1]
    np.testing.assert_allclose(np.mean(np.logaddexp(0.0, -margin)), last["eval/loss"], rtol=1e-4)
    np.testing.assert_allclose(np.mean(margin > 0), last["eval/accuracy"])
    # Duplicates and batches that do not fill the compiled shape score the same as alone.
    one = scorer.score(contexts[:1], [held[0].chosen])
    np.testing.assert_allclose(scorer.score(contexts[:1] * 20, [held[0].chosen] * 20), np.repeat(one, 20), rtol=1e-6)


@pytest.mark.slow  # three short trainings: 30-90 s on 2 shared cores
def test_eval_command_reports_accuracy_per_kind_and_the_length_baseline(trained, tmp_path, capsys):
    rm_dir, _, config = trained
    pairs = [PreferencePair(p.context, p.chosen, p.rejected, f"s{i}/{'right>wrong' if i % 2 else 'right>other'}")
             for i, p in enumerate(separable_pairs(10, seed=9))]
    write_pairs(tmp_path / "eval.jsonl", pairs)
    capsys.readouterr()
    assert run_command("eval", config, rm_dir.parent, pairs=tmp_path / "eval.jsonl") == 0
    report = json.loads(capsys.readouterr().out)
    assert report["pairs"] == 10 and report["accuracy"] >= 0.9
    assert report["longer_wins_accuracy"] == np.mean([len(p.chosen) > len(p.rejected) for p in pairs])
    assert set(report) >= {"accuracy/right>wrong", "accuracy/right>other", "loss", "margin"}


def test_resume_continues_as_an_uninterrupted_run(tmp_path, trained):
    _, _, config = trained
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    args = [("reward_model.steps", "6"), ("reward_model.checkpoint_every", "3"), ("reward_model.eval_every", "3")]
    run_command("train", config, straight, args)
    run_command("train", config, resumed, args[1:] + [("reward_model.steps", "3")])
    run_command("train", config, resumed, args)
    a, b = read_metrics(straight / "reward_model"), read_metrics(resumed / "reward_model")
    assert [r["step"] for r in b] == list(range(1, 7))
    for x, y in zip(a, b):
        assert x["loss"] == y["loss"] and x["grad_norm"] == y["grad_norm"]
    pairs = separable_pairs(8, seed=5)
    ctx, chosen = [p.context for p in pairs], [p.chosen for p in pairs]
    np.testing.assert_array_equal(RewardScorer.load(straight / "reward_model").score(ctx, chosen),
                                  RewardScorer.load(resumed / "reward_model").score(ctx, chosen))


def rollouts(contexts_and_rewrites) -> RolloutBatch:
    examples = [PPOptExample(state_id=f"s{i}", persona_id="p", persona={}, history_texts=("User: hi",),
                             original_query="q", input=context) for i, (context, _) in enumerate(contexts_and_rewrites)]
    texts = [f"<REASONING>r</REASONING><PROMPT>{rewrite}</PROMPT>" for _, rewrite in contexts_and_rewrites]
    parsed = [parse_output(t, e.original_query) for e, t in zip(examples, texts)]
    return RolloutBatch.build(examples, texts, parsed, [Answers("a", "b")] * len(texts))


def test_learned_rm_reward_scores_better_rewrites_higher(trained):
    rm_dir, _, _ = trained
    cfg = get_rewards_config()
    cfg.weights.learned_rm = 0.5
    cfg.learned_rm = get_learned_rm_config()
    cfg.learned_rm.checkpoint = str(rm_dir)
    ctx = RewardContext()
    ctx.learned_rm = build_scorer(cfg)
    rows = []
    for p in separable_pairs(12, seed=7):  # contexts the model never saw
        rows += [(p.context, p.chosen), (p.context, p.rejected)]
    scores_N, metrics = asyncio.run(REWARDS.get("learned_rm")(rollouts(rows), ctx))
    assert scores_N.dtype == np.float32 and np.all(np.isfinite(scores_N))
    assert np.all((scores_N >= 0) & (scores_N <= 1))
    assert np.all(scores_N[0::2] > scores_N[1::2])
    assert metrics["loaded"] == 1.0 and metrics["nan"] == 0.0
    np.testing.assert_allclose(metrics["mean"], scores_N.mean(), rtol=1e-6)


def test_learned_rm_is_not_loaded_at_weight_zero():
    cfg = get_rewards_config()
    cfg.learned_rm = get_learned_rm_config()
    cfg.learned_rm.checkpoint = "/does/not/exist"
    assert build_scorer(cfg) is None  # absent from the weights: nothing read
    cfg.weights.learned_rm = 0.0
    assert build_scorer(cfg) is None
    scores_N, metrics = asyncio.run(REWARDS.get("learned_rm")(rollouts([("c", "r")] * 3), RewardContext()))
    assert np.all(np.isnan(scores_N)) and metrics["loaded"] == 0.0 and metrics["nan"] == 3.0
    cfg.weights.learned_rm = 0.2
    with pytest.raises(FileNotFoundError, match="not a reward model directory"):
        build_scorer(cfg)
    cfg.learned_rm.checkpoint = ""
    with pytest.raises(ValueError, match="learned_rm.checkpoint is empty"):
        build_scorer(cfg)


def test_sim_pairs_order_candidates_by_the_sim_judges(shared_data):
    examples = to_examples(load(shared_data / "ppopt_official" / "rl_states.sample.jsonl"))[:10]
    pairs, stats = build_sim_pairs(examples, seed=0, samples=2, min_gap=0.1)
    assert stats.examples == 10 and stats.pairs == len(pairs) > 30
    assert all(p.margin >= 0.1 and p.chosen != p.rejected for p in pairs)
    assert {p.context for p in pairs} <= {e.input for e in examples}
    kinds = [p.id.rsplit("/", 1)[1] for p in pairs]
    # Every true trait asked for reliably, request kept, beats the request alone; never the reverse.
    assert "copy>oracle" not in kinds and kinds.count("oracle>copy") >= 8
    assert stats.chosen["oracle"] > stats.chosen["copy"]


def test_command_pairs_and_user_errors(tmp_path):
    good = tmp_path / "pairs.jsonl"
    write_pairs(good, separable_pairs(5))
    config = write_config(tmp_path, good)
    assert run_command("pairs", config, tmp_path / "w", out=tmp_path / "out.jsonl") == 0
    assert read_pairs(tmp_path / "out.jsonl") == read_pairs(good)
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"context": "c", "chosen": "a"}\n')
    with pytest.raises(UserError, match=r"bad.jsonl:1: field 'rejected'"):
        run_command("train", config, tmp_path / "w", [("reward_model.pairs", str(bad))])
    with pytest.raises(UserError, match="unknown field"):
        run_command("train", config, tmp_path / "w", [("reward_model.stepz", "3")])
    with pytest.raises(UserError, match=r"batch_size=4 must split over the mesh's 8 batch shards"):
        run_command("train", config, tmp_path / "w", [("reward_model.batch_size", "4")])
    with pytest.raises(UserError, match="--out"):
        run_command("pairs", config, tmp_path / "w")
