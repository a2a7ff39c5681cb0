"""The web page served at `/ui`: templates and vendored static assets over the JSON API's own handlers."""
