"""The local engine: OpenAI's fine-tuning API served on this machine, training open models with LoRA.

- :mod:`studio.engine.app`: ``create_app(home, ...)``, the FastAPI app (``studio engine`` serves it), whose routers
  (one per resource) are in :mod:`studio.engine.api` and whose request/response types are in
  :mod:`studio.engine.protocol`;
- :mod:`studio.engine.service`: the ``Engine`` behind the routes (store, model cache, scheduler, upload check);
- :mod:`studio.engine.store` and :mod:`studio.engine.records`: the SQLite store of files, jobs, events,
  checkpoints and models;
- :mod:`studio.engine.models`: base-model registry and the offline SmolLM2 pull, loading, generation;
- :mod:`studio.engine.hyperparameters`, :mod:`studio.engine.encoding`, :mod:`studio.engine.trainer`: what a job
  asks for, its data as tokens, the LoRA training loop; :mod:`studio.engine.worker`: the job process;
- :mod:`studio.engine.errors`: domain errors (no HTTP); :mod:`studio.engine.api.errors` maps them to OpenAI's.

The engine reaches the rest of the studio only through :mod:`studio.core`; what it needs from the library (the
Cost page's upload validation) is injected by ``studio engine`` (:mod:`studio.cli.engine`).
Nothing here imports torch, transformers or peft at import time (they are the optional ``engine`` extra).
"""
