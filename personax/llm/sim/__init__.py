"""The sim world: a seeded, offline, verifiable realisation of every LLM role.

Ground truth lives in `world.json` (trait -> user cue, trait -> instruction phrasing,
trait -> answer marker); every sim role reads it from there, never from code branches.
Sim results describe the sim world only.
"""
