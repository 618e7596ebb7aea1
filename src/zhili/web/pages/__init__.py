"""Server-rendered pages (Jinja2 + htmx), zh-CN first. Each calls the same services as
the JSON API."""
