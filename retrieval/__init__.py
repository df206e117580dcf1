"""Answer retrieval: sentence embeddings, the FAISS answer index and response templates.

Nothing is imported here on purpose: ``bot`` imports this package at start-up, and torch,
sentence-transformers and FAISS should load only when a module that needs them does
(``retrieval.models.encoder``, ``retrieval.index.search``).
"""
