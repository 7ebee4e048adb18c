"""Data quality: the rule registry, duplicates, user patterns (RE2), moderation, leakage-proof splits."""
