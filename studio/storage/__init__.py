"""The SQLite workspace: datasets, versions, rule flags, the edit log, settings; its migrations."""
