"""Offline training and evaluation of Frontdesk's text classifiers (intent, sentiment).

Nothing here is imported by serving code, and this module imports nothing itself: torch and
transformers load only when a submodule that needs them is imported, so that ``frontdesk``
commands that never train stay fast to start.

Entry points: :func:`training.train.train` with :class:`training.train.TrainSettings`, and
:func:`training.evaluate.evaluate`. :func:`retrieval.base.datasets.load_examples` reads the data.
"""
