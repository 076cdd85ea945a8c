"""A learned Bradley–Terry reward model (scalar head on the experiment's trunk): preference pairs,
training, and loading for scoring. See docs/rewards.md ("Learned reward model")."""
from personax.train.reward_model.config import get_reward_model_config
from personax.train.reward_model.pairs import PreferencePair, read_pairs, split_pairs, write_pairs

__all__ = ["PreferencePair", "get_reward_model_config", "read_pairs", "split_pairs", "write_pairs"]
