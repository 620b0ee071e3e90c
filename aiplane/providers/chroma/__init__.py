"""The Chroma provider: collections on a Chroma server, through its HTTP API (v2)."""
