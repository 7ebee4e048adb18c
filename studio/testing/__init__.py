"""Test doubles that run for real: an OpenAI-compatible server with injectable latency and faults."""
