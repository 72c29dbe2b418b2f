"""Pydantic models, enums and error codes shared by every layer; no I/O here."""
