"""Turn a folder of documents into chunks in a kbqa knowledge base: ``python -m ingest DIR``."""
