"""The interactive API documentation, /docs (Swagger UI) and /redoc, served without any CDN."""
