"""OpenAI's HTTP API over the :class:`~studio.engine.service.Engine`: one router per resource, as vllm does.

- :mod:`.files`: ``/v1/files`` (upload, list, retrieve, content, delete);
- :mod:`.jobs`: ``/v1/fine_tuning/jobs`` (create, list, retrieve, cancel, pause, resume, events, checkpoints);
- :mod:`.models`: ``/v1/models`` (list, retrieve, delete a fine-tuned model);
- :mod:`.chat`: ``/v1/chat/completions`` (plain and SSE streaming);
- :mod:`.errors`: the one place where errors become OpenAI's error responses.
"""
