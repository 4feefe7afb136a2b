"""The manifest and recipe JSON Schemas and per-corpus reference facts, packaged as dsreg.schemas."""
