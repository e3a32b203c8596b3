"""Serving models over OpenAI-compatible HTTP: one front (keys, limits, errors) over a handler.

- ``protocol``: :class:`CompletionHandler`, the request model and :class:`ApiError`
- ``limits``: :class:`ServeLimits` and the pure checks against them
- ``app``: the Starlette app (``build_app``)
- ``server``: ``serve``, running the app under uvicorn and reporting readiness
- ``engine``: ``EngineHandler``, an embedded model behind the front (``lmteams serve-model``)
- ``team``: ``TeamHandler``, a whole team as one model (``lmteams serve-team``)
- ``a2a``: the same team as an A2A agent beside it (the a2a-sdk, extra ``a2a``)

Nothing is imported here: the CLI reads the limits without paying for starlette and uvicorn.
"""
