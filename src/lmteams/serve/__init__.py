"""Serving models over OpenAI-compatible HTTP: one front (keys, limits, errors) over a handler.

- ``protocol``: :class:`CompletionHandler`, the request model and :class:`ApiError`
- ``limits``: :class:`ServeLimits` and the pure checks against them
- ``app``: the Starlette app (``build_app``)
- ``server``: ``serve``, running the app under uvicorn and reporting readiness
- ``engine``: ``EngineHandler``, an embedded model behind the front (``lmteams serve-model``)

Nothing is imported here: the CLI reads the limits without paying for starlette and uvicorn.
"""
