"""The blog: Markdown posts, drafts, revisions, scheduling, feeds and the sitemap."""
