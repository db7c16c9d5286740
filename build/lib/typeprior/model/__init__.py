"""Generative NER model, corpus data model and metrics.

Kept import-light: torch-backed modules are imported from their submodules, so that
corpus tools and the warehouse do not pay for torch at start-up.
"""
