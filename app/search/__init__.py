"""One search across species, blog posts and forum threads."""
