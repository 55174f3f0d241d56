# vlsearch app image: the pipeline (CLI) and, once it exists, the Streamlit app.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# OpenCV (pulled in by RapidOCR) needs libGL and glib at import time.
RUN apt-get update \
    && apt-get install -y --no-install-recommends libgl1 libglib2.0-0 \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY requirements.txt .
RUN pip install -r requirements.txt

COPY . .
# The project itself (console script `vlsearch`, package data); its pinned dependencies are installed above.
RUN pip install --no-deps . \
    && useradd --create-home --uid 1000 vlsearch \
    && mkdir -p /data /models \
    && chown -R vlsearch:vlsearch /data /models
USER vlsearch

ENV VLSEARCH_DATA_DIR=/data \
    HF_HOME=/models/huggingface
EXPOSE 8501

# The Streamlit app.
# Any CLI command works too: docker compose run --rm app vlsearch search --text "login failed"
CMD ["streamlit", "run", "streamlit_app/app.py", "--server.address=0.0.0.0", "--server.port=8501"]
