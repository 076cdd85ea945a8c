"""PersonaGym: synthetic personalized multi-turn conversations (SPEC §1) -> PersonaAtlas."""
