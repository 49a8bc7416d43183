"""The HTTP API: the app factory, routes, auth, errors, schemas, metrics, middleware and the demo page."""
