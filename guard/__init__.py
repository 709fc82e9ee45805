"""guard: an OpenAI-compatible proxy that keeps LLM answers honest."""

__version__ = "0.1.0"
