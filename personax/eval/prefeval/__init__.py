"""PrefEval (amazon-science/PrefEval) as a PPOpt evaluation: its preference-revealing turns become the
history of a PPOpt state and its question the query, so every registered eval method runs on it
unchanged. Scored judge-free by multiple choice (the deployed model picks among shuffled options) and,
with a hosted judge, by PrefEval's four preference-following checks. See docs/prefeval.md."""
