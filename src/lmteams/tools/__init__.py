"""Tool nodes: backends that are not language models but speak the same messages.

``retrieval`` answers from a local document index (SQLite FTS5, BM25 ranking) with cited
passages; ``python`` runs a short program in the sandbox and returns its output. Both are
:class:`~lmteams.models.base.ModelBackend` kinds, so a team file uses them like any model and
every call is logged like any other node call.
"""
