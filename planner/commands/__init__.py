"""Sub-commands of the CLI, one per module; each exposes ``register(app)``."""
