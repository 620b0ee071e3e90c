"""Real servers the test suite starts on loopback (MLflow, PostgreSQL + pgvector, Chroma, LiteLLM,
Kueue...). Each lives in its own module here with a session fixture; ``support`` holds what they
share: a cached virtual environment per server (its pins kept apart from aiplane's own), free
ports, and processes started in their own group and stopped by PID."""
