"""What the library and the local engine share, and the only thing they share.

The engine (``studio.engine``) never imports the rest of the library, and the library never imports the engine
(contracts in pyproject.toml, checked by ``lint-imports`` in ``make test``). Facts both sides must agree on live
here once: the auto-epochs heuristic, the engine's default address and base model, chat-content helpers.
"""
