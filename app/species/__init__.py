"""Species pages, names and enrichment data."""
