"""vlsearch app: `streamlit run streamlit_app/app.py`. Routes to the pages; each page is a thin view over pipeline/."""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    # `streamlit run` puts only this folder on the import path; the library lives one level up.
    sys.path.insert(0, str(ROOT))

import streamlit as st  # noqa: E402

st.set_page_config(page_title="vlsearch", page_icon=":material/image_search:", layout="wide")
st.navigation(
    [
        st.Page("views/home.py", title="Home", icon=":material/home:", default=True),
        st.Page("views/analyst.py", title="Analyst dashboard", icon=":material/query_stats:", url_path="analyst"),
        st.Page("views/lookup.py", title="Screenshot lookup", icon=":material/support_agent:", url_path="lookup"),
        st.Page("views/moderation.py", title="Moderation queue", icon=":material/gavel:", url_path="moderation"),
    ]
).run()
