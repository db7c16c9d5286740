"""Migration files (NNN_name.sql), shipped as package data."""
