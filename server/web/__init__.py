"""The server-rendered admin dashboard (Jinja2), in Chinese and English."""
