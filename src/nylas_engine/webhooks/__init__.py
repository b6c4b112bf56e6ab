"""Webhook notifications: what changed (`notify`) and getting it to the app (`deliver`)."""
