"""SQL of the knowledge base (θ), shipped as package data."""
