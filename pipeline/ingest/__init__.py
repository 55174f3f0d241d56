"""Ingest: sources (folders, manifests, URLs, PDFs, videos, uploads) read, enriched and stored."""
