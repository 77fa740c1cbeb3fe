"""Task and data generators, and readers of data that installed packages ship (never downloaded)."""
