"""Prefect flows; entrypoints are named in prefect.yaml."""
