"""Serving: models loaded on first use, concurrent chat requests batched per model.

    backend.py   the model calls (load, chat_completions, embeddings) behind a small protocol
    batching.py  a per-model queue that gathers requests for a few ms into one call
    engine.py    model resolution, the batchers, one generation thread, the token caps
    process.py   a backend whose model calls run in a child process (the default)
    child.py     that child's loop

Nothing here imports torch at import time.
"""
