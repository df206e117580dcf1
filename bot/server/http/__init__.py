"""The HTTP surface: handlers, middlewares and the one JSON error shape."""
