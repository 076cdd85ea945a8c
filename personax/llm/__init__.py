"""LLM roles: one small chat interface (`base.ChatClient`) with hosted, local and sim backends."""
