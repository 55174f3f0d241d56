#!/usr/bin/env bash
# The quick-start demo: ingest the bundled samples, then serve the app. Run via `make demo`.
set -euo pipefail
cd "$(dirname "$0")/.."
# The demo's collection lives in the checkout, apart from your own (the platform's user data folder by default).
export VLSEARCH_DATA_DIR="${VLSEARCH_DATA_DIR:-$PWD/data/demo}"
# The demo runs without sign-in, so it listens on this machine only. A shared deployment adds users
# (vlsearch users add NAME --role admin) or OIDC instead: see docs/security.md#access-control.
export VLSEARCH_AUTH="${VLSEARCH_AUTH:-off}"
PORT=8501

step() { printf '\n\033[1m== %s\033[0m\n$ %s\n' "$1" "$2"; }

step "Ingest the sample collection into $VLSEARCH_DATA_DIR (quick when nothing changed)" \
  "vlsearch ingest --manifest samples/manifest.jsonl"
vlsearch ingest --manifest samples/manifest.jsonl

step "Serve the app (Ctrl+C stops it)" \
  "streamlit run streamlit_app/app.py --server.headless true --server.address 127.0.0.1 --server.port $PORT"
cat <<TXT

  Open http://localhost:$PORT
    Home                the collection, the engine, the model mode; upload more images
    Analyst dashboard   http://localhost:$PORT/analyst  search, filters, scores, charts, CSV, thumbs up/down
    Insights            http://localhost:$PORT/insights  volume per month by app and error code, near-identical groups, topics
                        (vlsearch ingest tests/data/query_screens puts customers' screenshots beside their tickets' screens)
    Screenshot lookup   http://localhost:$PORT/lookup   drop tests/data/query_screens/SUP-1042.jpg

  The demo collection is in $VLSEARCH_DATA_DIR. Point the command line at it from any folder:
    export VLSEARCH_DATA_DIR=$VLSEARCH_DATA_DIR
    .venv/bin/vlsearch stats
    .venv/bin/vlsearch search --text "card declined payment failed" --limit 3
    .venv/bin/vlsearch search --image tests/data/query_screens/SUP-1057.jpg --json

TXT
exec streamlit run streamlit_app/app.py --server.headless true --server.address 127.0.0.1 --server.port "$PORT"
