"""The Grain pipeline: shapes, completion-only masks, left truncation, packing, sharding,
checkpoint/restore, and ArrayRecord / tfds.data_source round trips."""
import dataclasses
import json

import grain
import numpy as np
import pytest

from personax.data.arrayrecord import read_shards, write_shards
from personax.data.examples import PPOptExample
from personax.data.importers import load, to_examples
from personax.data.pipeline import PipelineConfig, bucket_lengths, build_pipeline, trim_to_bucket, used_length
from personax.data.sources import example_dataset
from personax.data.tokenize import prompt_and_completion_ids, truncate_left

END = 2  # the stand-in template's end-of-turn id


class CharTokenizer:
    """One id per character; a ChatML-like template whose end-of-turn marker is one token."""
    pad_id = 0

    def encode(self, text, add_special_tokens=True):
        return [END if ch == "\x1f" else 3 + ord(ch) % 250 for ch in text]

    def apply_chat_template(self, messages, add_generation_prompt=True):
        text = "".join(f"<{m['role']}>{m['content']}\x1f" for m in messages)
        return text + ("<assistant>" if add_generation_prompt else "")


def example(i, prompt_len, out_len, persona=None):
    query = "q" * prompt_len
    return PPOptExample(f"s{i}", persona or f"p{i}", {}, ("User: h",), query, query,
                        "o" * out_len if out_len else None)


TOK = CharTokenizer()
O_ID = TOK.encode("o")[0]


def batches(source, **cfg):
    return list(build_pipeline(source, TOK, PipelineConfig(**cfg)))


def test_padded_rows_mask_only_the_completion():
    exs = [example(i, 10 + i, 5 + i) for i in range(6)]
    out = batches(exs, max_len=64, batch_size=3, shuffle=False)
    assert len(out) == 2 and all(b["tokens"].shape == (3, 64) for b in out)
    for b in out:
        for row in range(3):
            tokens, mask = b["tokens"][row], b["loss_mask"][row]
            n = int(b["segment_ids"][row].sum())
            # prompt: "<user>" + query + END + "<assistant>"; completion: output + END.
            i = int(np.sum(mask)) - 6
            assert n == 6 + (10 + i) + 1 + 11 + (5 + i) + 1
            assert mask[:n - (6 + i)].sum() == 0 and mask[n - (6 + i):n].all()
            assert (tokens[n - (6 + i):n - 1] == O_ID).all() and tokens[n - 1] == END
            assert (tokens[n:] == 0).all() and (mask[n:] == 0).all()
            assert (b["positions"][row][:n] == np.arange(n)).all()


def test_left_truncation_keeps_the_completion_and_the_prompt_end():
    prompt, completion = prompt_and_completion_ids(TOK, example(0, 100, 7))
    p, c = truncate_left(prompt, completion, 40)
    assert c == completion and p == prompt[-(40 - len(completion)):] and len(p + c) == 40
    p, c = truncate_left(prompt, list(range(60)), 40)
    assert (len(p), c) == (1, list(range(39))) and p == prompt[-1:]
    (b,) = batches([example(0, 100, 7)], max_len=40, batch_size=1, shuffle=False)
    assert b["segment_ids"].sum() == 40 and b["loss_mask"].sum() == 8
    assert list(b["tokens"][0][-8:]) == [O_ID] * 7 + [END]
    with pytest.raises(ValueError, match="at least 2"):
        truncate_left(prompt, completion, 1)


def test_packing_fills_rows_with_separate_segments():
    exs = [example(i, 8, 4) for i in range(12)]  # each: 6 + 8 + 1 + 11 + 4 + 1 = 31 tokens
    out = batches(exs, max_len=64, batch_size=2, pack=True, num_packing_bins=2, shuffle=False)
    rows = [(b["tokens"][r], b["loss_mask"][r], b["segment_ids"][r], b["positions"][r])
            for b in out for r in range(2)]
    assert len(rows) == 6 and all(t.shape == (64,) for t, *_ in rows)
    for tokens, mask, seg, pos in rows:
        assert list(np.unique(seg)) == [0, 1, 2] and (tokens[seg == 0] == 0).all()
        for s in (1, 2):
            assert (pos[seg == s] == np.arange(31)).all() and mask[seg == s].sum() == 5
    assert sum(int(m.sum()) for _, m, _, _ in rows) == 12 * 5


def test_length_buckets_cut_a_batch_to_the_shortest_that_holds_it():
    exs = [example(i, 5 * i, 4) for i in range(6)]  # 23 + 5i tokens: 23 ... 48
    padded, packed = (batches(exs, max_len=64, batch_size=2, shuffle=False, pack=pack) for pack in (False, True))
    buckets = bucket_lengths((32, 48), 64)
    assert buckets == (32, 48, 64) and bucket_lengths((16, 64), 64) == (16, 64)
    for b in padded + packed:
        used = used_length(b)
        assert b["segment_ids"][:, used - 1].any() and not b["segment_ids"][:, used:].any()
        cut = trim_to_bucket(b, buckets, used)
        keep = min(x for x in buckets if x >= used)
        assert {k: v.shape for k, v in cut.items()} == {k: (2, keep) for k in b}
        for k in b:  # every real token kept, in place; only padding dropped
            np.testing.assert_array_equal(cut[k], b[k][:, :keep])
        assert cut["loss_mask"].sum() == b["loss_mask"].sum()
    assert [used_length(b) for b in padded] == [28, 38, 48]
    assert [trim_to_bucket(b, buckets, used_length(b))["tokens"].shape[1] for b in padded] == [32, 48, 48]
    for bad in ((48, 32), (32, 32), (0, 32), (32, 65)):
        with pytest.raises(ValueError, match=r"length_buckets=.* must be increasing lengths in 1..max_len=64"):
            bucket_lengths(bad, 64)


def test_prompt_mode_left_pads_and_keeps_the_source_index():
    exs = [example(i, 5 + i, None) for i in range(4)]
    (b,) = batches(exs, mode="prompt", max_len=32, batch_size=4, seed=1)
    assert b["prompt_tokens"].shape == (4, 32) and sorted(b["example_index"]) == [0, 1, 2, 3]
    for row, idx in enumerate(b["example_index"]):
        n = 6 + 5 + idx + 1 + 11
        mask = b["prompt_mask"][row]
        assert mask.sum() == n and not mask[:32 - n].any() and mask[32 - n:].all()
        assert list(b["prompt_tokens"][row][-11:]) == TOK.encode("<assistant>")
    with pytest.raises(ValueError, match="no SFT target"):
        batches(exs, max_len=32, batch_size=1)


def test_prompt_mode_source_index_stays_in_range_when_repeating():
    exs = [example(i, 3 + i, None) for i in range(5)]
    for shard_options in (grain.sharding.NoSharding(),
                          grain.sharding.ShardOptions(shard_index=1, shard_count=2, drop_remainder=True)):
        ds = build_pipeline(exs, TOK, PipelineConfig(mode="prompt", max_len=32, batch_size=1, seed=3,
                                                     num_epochs=None), shard_options)
        it = iter(ds)
        for _ in range(3 * len(exs)):  # three epochs: each reshuffled, every index a real example
            b = next(it)
            idx = int(b["example_index"][0])
            assert 0 <= idx < len(exs)
            assert b["prompt_mask"][0].sum() == 6 + 3 + idx + 1 + 11  # the prompt of example idx


def test_shards_per_host_are_disjoint_and_equal():
    exs = [example(i, 5, 3) for i in range(10)]
    seen = []
    for index in range(3):
        opts = grain.sharding.ShardOptions(shard_index=index, shard_count=3, drop_remainder=True)
        ds = build_pipeline(exs, TOK, PipelineConfig(mode="prompt", max_len=16, batch_size=1,
                                                     shuffle=True, seed=index), opts)
        seen.append(sorted(int(b["example_index"][0]) for b in ds))
    assert [len(s) for s in seen] == [3, 3, 3] and len(set(sum(seen, []))) == 9


def test_iterator_checkpoint_restores_exactly():
    exs = [example(i, 4 + i % 7, 2 + i % 5) for i in range(40)]
    cfg = PipelineConfig(max_len=48, batch_size=2, pack=True, num_packing_bins=3, num_epochs=2,
                         seed=7)
    assert sum(1 for _ in build_pipeline(exs, TOK, cfg)) == 40  # two epochs of 20 batches
    it = iter(build_pipeline(exs, TOK, cfg))
    for _ in range(17):  # the restored stretch crosses into the second epoch
        next(it)
    state = it.get_state()
    expected = [next(it) for _ in range(6)]
    fresh = next(iter(build_pipeline(exs, TOK, cfg)))
    assert not np.array_equal(fresh["tokens"], expected[0]["tokens"])
    restored = iter(build_pipeline(exs, TOK, cfg))
    restored.set_state(json.loads(json.dumps(state)))
    for want, got in zip(expected, (next(restored) for _ in range(6))):
        for key in want:
            np.testing.assert_array_equal(want[key], got[key])


def test_all_input_forms_feed_the_same_pipeline(tmp_path, shared_data):
    d = shared_data / "ppopt_official"
    convs = load(d / "train_samples.sample.json").records
    released = tmp_path / "atlas.jsonl"
    from personax.data.records import dumps, to_released
    released.write_text("".join(dumps(to_released(r)) + "\n" for r in convs))
    for source, n in [(d / "sft_train.sample.jsonl", 40), (released, 5),
                      (d / "train_samples.sample.json", 5), (convs, 5)]:
        labelled = [dataclasses.replace(e, output=e.output or "<PROMPT>x</PROMPT>")
                    for e in example_dataset(source)]
        assert len(labelled) == n
        rows = sum(b["tokens"].shape[0] for b in batches(labelled, max_len=512, batch_size=1))
        assert rows == n
    (b,) = batches(d / "rl_states.sample.jsonl", mode="prompt", max_len=256, batch_size=40)
    assert b["prompt_tokens"].shape == (40, 256) and b["prompt_mask"].all()


def test_arrayrecord_shards_round_trip(tmp_path, shared_data):
    exs = to_examples(load(shared_data / "ppopt_official" / "rl_states.sample.jsonl"))
    paths = write_shards(exs, tmp_path / "rl", num_shards=3)
    assert [p.name for p in paths][0] == "rl-00000-of-00003.array_record"
    assert not list(tmp_path.glob("*.tmp"))
    ds = example_dataset(read_shards(paths))
    assert [ds[i] for i in range(len(ds))] == exs
    convs = load(shared_data / "ppopt_official" / "train_samples.sample.json").records
    assert len(example_dataset(read_shards(write_shards(convs, tmp_path / "conv")))) == 5


def test_tfds_data_source_feeds_grain(tmp_path, shared_data):
    tfds = pytest.importorskip("tensorflow_datasets")
    from personax.data.tfds_builder import prepare
    exs = to_examples(load(shared_data / "ppopt_official" / "rl_states.sample.jsonl"))
    prepare(tmp_path, "ppopt", {"rl": exs[:30], "eval": exs[30:]})
    source = tfds.data_source("personax_atlas/ppopt", data_dir=str(tmp_path), split="eval")
    assert len(source) == 10
    got = sorted(example_dataset(source), key=lambda e: e.state_id)
    assert got == sorted(exs[30:], key=lambda e: e.state_id)
    (b,) = batches(source, mode="prompt", max_len=128, batch_size=10)
    assert b["prompt_tokens"].shape == (10, 128)
    convs = load(shared_data / "ppopt_official" / "train_samples.sample.json").records
    prepare(tmp_path, "conversations", {"train": convs})
    source = tfds.data_source("personax_atlas/conversations", data_dir=str(tmp_path), split="train")
    assert len(source) == 25 and len(example_dataset(source)) == 5


def test_a_personax_tokenizer_with_a_chatml_template(tmp_path, shared_data):
    from personax.tokenizers import train_sentencepiece
    exs = to_examples(load(shared_data / "ppopt_official" / "sft_train.sample.jsonl"))[:4]
    tok = train_sentencepiece([e.input for e in exs] + [e.output for e in exs],
                              str(tmp_path / "sp.model"), vocab_size=400, model_type="bpe",
                              chat_template="chatml")
    (b,) = list(build_pipeline(exs[:2], tok, PipelineConfig(max_len=16384, batch_size=2,
                                                             shuffle=False)))
    for row, e in enumerate(exs[:2]):
        tokens, mask = b["tokens"][row], b["loss_mask"][row]
        completion = tok.decode(tokens[mask == 1].tolist(), skip_special_tokens=False)
        assert completion.startswith("<REASONING>") and "</PROMPT><|im_end|>" in completion
        n = int(b["segment_ids"][row].sum())
        prompt = tok.decode(tokens[:n][mask[:n] == 0].tolist(), skip_special_tokens=False)
        assert prompt.startswith("<|im_start|>user\n") and prompt.endswith("<|im_start|>assistant\n")
        assert (tokens[n:] == tok.pad_id).all()


def test_iterator_saves_and_restores_through_orbax(tmp_path):
    ocp = pytest.importorskip("orbax.checkpoint")
    exs = [example(i, 3 + i % 7, 2 + i % 5) for i in range(30)]
    cfg = PipelineConfig(max_len=40, batch_size=2, pack=True, seed=3)

    def manager():
        return ocp.CheckpointManager(tmp_path, item_handlers={
            "data": grain.checkpoint.CheckpointHandler()})

    it = iter(build_pipeline(exs, TOK, cfg))
    for _ in range(3):
        next(it)
    saver = manager()
    saver.save(3, args=ocp.args.Composite(data=grain.checkpoint.CheckpointSave(it)))
    saver.wait_until_finished()
    expected = [next(it) for _ in range(4)]
    resumed = iter(build_pipeline(exs, TOK, cfg))
    restorer = manager()
    restorer.restore(restorer.latest_step(),
                     args=ocp.args.Composite(data=grain.checkpoint.CheckpointRestore(resumed)))
    for want, got in zip(expected, (next(resumed) for _ in range(4))):
        for key in want:
            np.testing.assert_array_equal(want[key], got[key])
