"""Plant identification: upload, jobs, merging and results."""
