"""The forum: categories, threads, posts, reactions, moderation and embeddable threads."""
