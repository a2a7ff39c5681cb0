"""One module per resource: health, connectors, connections, pipelines, runs. Each exposes `router`."""
