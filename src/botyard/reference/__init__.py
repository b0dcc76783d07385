"""The error reference every error's ``doc_url`` points at, served by Botyard itself."""
