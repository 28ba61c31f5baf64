"""The Flask-Admin panel and the operations dashboard."""
