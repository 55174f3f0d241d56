#!/usr/bin/env bash
# The quick-start demo: ingest the bundled samples, then serve the app. Run via `make demo`.
set -euo pipefail
cd "$(dirname "$0")/.."
export VLSEARCH_DATA_DIR="${VLSEARCH_DATA_DIR:-data/demo}"
# The demo runs without sign-in, so it listens on this machine only. A shared deployment adds users
# (python -m pipeline users add NAME --role admin) or OIDC instead: see README "Access control".
export VLSEARCH_AUTH="${VLSEARCH_AUTH:-off}"
PORT=8501

step() { printf '\n\033[1m== %s\033[0m\n$ %s\n' "$1" "$2"; }

step "Ingest the sample collection (45 images + manifest; quick when nothing changed)" \
  "python -m pipeline ingest --manifest samples/manifest.jsonl"
python -m pipeline ingest --manifest samples/manifest.jsonl

step "Serve the app (Ctrl+C stops it)" \
  "streamlit run streamlit_app/app.py --server.headless true --server.address 127.0.0.1 --server.port $PORT"
cat <<TXT

  Open http://localhost:$PORT
    Home                the collection, the engine, the model mode; upload more images
    Analyst dashboard   http://localhost:$PORT/analyst  search, filters, scores, charts, CSV, thumbs up/down
    Screenshot lookup   http://localhost:$PORT/lookup   drop tests/data/query_screens/SUP-1042.jpg

  The command line works on the same collection (source .venv/bin/activate; VLSEARCH_DATA_DIR=$VLSEARCH_DATA_DIR):
    python -m pipeline search --text "card declined payment failed" --limit 3
    python -m pipeline search --image tests/data/query_screens/SUP-1057.jpg --json

TXT
exec streamlit run streamlit_app/app.py --server.headless true --server.address 127.0.0.1 --server.port "$PORT"
