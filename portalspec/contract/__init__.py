"""Contracts: a definition against a partner's OpenAPI description, and back (issue 11)."""
