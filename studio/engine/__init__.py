"""The local engine: OpenAI's fine-tuning API served on this machine, training open models with LoRA.

- :mod:`studio.engine.server`: ``create_app(home, ...)``, the FastAPI app (``studio engine`` serves it);
- :mod:`studio.engine.store`: the SQLite store of files, jobs, events, checkpoints and models;
- :mod:`studio.engine.models`: base-model registry, the offline SmolLM2 pull, loading and generation;
- :mod:`studio.engine.trainer`: the LoRA training loop; :mod:`studio.engine.worker`: the job process.

Nothing here imports torch, transformers or peft at import time (they are the optional ``engine`` extra).
"""
