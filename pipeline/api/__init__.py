"""The HTTP service (`python -m pipeline serve`): FastAPI routes that translate HTTP to pipeline calls, nothing more.

Helpdesks, upload pipelines and a Weaviate server call it; people use the Streamlit app. Routes live in
`routes/` (one module per concern), the wiring a request needs in `context.py`, who is calling in `security.py`,
error bodies in `errors.py`, request parsing (JSON or multipart, images) in `inputs.py`, Prometheus figures in
`metrics.py`."""
