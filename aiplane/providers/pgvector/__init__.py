"""The pgvector provider: collections as PostgreSQL tables with a pgvector ANN index."""
