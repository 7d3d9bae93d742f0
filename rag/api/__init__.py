"""``kbqa serve``: kbqa's HTTP API, for tools that cannot import ``rag`` (Open WebUI, scripts in
other languages, editor plugins).

- ``rag.api.openai_format``: the OpenAI chat-completions wire format (requests, responses,
  stream chunks, errors) and the sources footnotes; plain functions, no server.
- ``rag.api.app``: the FastAPI application (``create_app``) over a knowledge-base provider,
  with ``/v1/chat/completions``, ``/v1/models`` and ``/v1/documents``, and the optional API key.
- ``rag.api.command``: the ``kbqa serve`` command (loopback by default, models loaded once).

An entry point: it uses the facade (``rag.kb``) and nothing below imports it.
"""
