#!/usr/bin/env bash
# The quick-start demo: ingest the bundled samples, then show a few searches. Run via `make demo`.
set -euo pipefail
cd "$(dirname "$0")/.."
export VLSEARCH_DATA_DIR="${VLSEARCH_DATA_DIR:-data/demo}"

step() { printf '\n\033[1m== %s\033[0m\n$ %s\n' "$1" "$2"; }

step "Ingest the sample collection (44 images + manifest)" "python -m pipeline ingest --manifest samples/manifest.jsonl"
python -m pipeline ingest --manifest samples/manifest.jsonl

step "Search by text" "python -m pipeline search --text 'card declined payment failed' --limit 3"
python -m pipeline search --text "card declined payment failed" --limit 3

step "Search in Chinese" "python -m pipeline search --text '账户已锁定' --limit 3"
python -m pipeline search --text "账户已锁定" --limit 3

step "A customer's screenshot: find the past ticket" "python -m pipeline search --image tests/data/query_screens/$(ls tests/data/query_screens | grep -m1 jpg) --limit 3"
python -m pipeline search --image "tests/data/query_screens/$(ls tests/data/query_screens | grep -m1 jpg)" --limit 3

step "Filter by metadata" "python -m pipeline search --text error --where \"category = 'network' AND created_at >= '2025-01-01'\" --limit 3"
python -m pipeline search --text error --where "category = 'network' AND created_at >= '2025-01-01'" --limit 3

step "What is stored" "python -m pipeline stats --json"
python -m pipeline stats --json

cat <<'TXT'

Try next (inside the virtual environment: source .venv/bin/activate):
  python -m pipeline search --text "quota exceeded" --json        # machine-readable hits with every score
  python -m pipeline search --image my_screenshot.png --alpha 0.3 # your own screenshot
  python -m pipeline ingest ~/Pictures --manifest my_tickets.csv  # your own collection
  VLSEARCH_EMBED_MODEL=/path/to/Qwen3-VL-Embedding-2B python -m pipeline ingest --manifest samples/manifest.jsonl
TXT
