"""Pipeline stages: one module per verb, each a plain `run(...) -> dict` summary."""
