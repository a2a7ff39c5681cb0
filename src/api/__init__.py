"""The REST control plane: `app.create_app(settings)` builds it; routes, schemas and problem handlers beside it."""
