"""One router per concern; `app.create_app` mounts them."""
