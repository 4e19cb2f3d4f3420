"""Everything that learns: actor, critic, tiny default models, checkpoints (no task imports)."""
