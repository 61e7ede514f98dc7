"""Prefect tasks: run a DVC stage, gate on validation, publish artifacts, push, record."""
