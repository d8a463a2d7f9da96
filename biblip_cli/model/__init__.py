"""Bio-BLIP model: modality encoders, master Q-former and heads (biblip.py), the frozen LLM (llm.py),
prompt templates (prompts.py) and default weights (weights.py). Imported lazily: torch is heavy."""
