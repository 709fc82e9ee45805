"""HTTP: the FastAPI app, auth, and errors as OpenAI-shaped JSON."""
