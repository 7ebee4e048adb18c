"""Provider profiles and clients (one SDK for every provider), retries, fine-tuning jobs."""
