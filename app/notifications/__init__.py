"""In-app and email notifications, with per-user email preferences."""
