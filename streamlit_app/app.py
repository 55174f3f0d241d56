"""vlsearch app: `streamlit run streamlit_app/app.py`. Signs the user in, then routes to the pages their role may
use (the others are not in the navigation, and each page checks the role again); each page is a thin view."""

import streamlit as st

from pipeline.access.auth import Permission
from streamlit_app import ui

st.set_page_config(page_title="vlsearch", page_icon=":material/image_search:", layout="wide")
PAGES = [
    (Permission.SEARCH, st.Page("views/home.py", title="Home", icon=":material/home:", default=True)),
    (
        Permission.SEARCH,
        st.Page("views/analyst.py", title="Analyst dashboard", icon=":material/query_stats:", url_path="analyst"),
    ),
    (
        Permission.SEARCH,
        st.Page("views/insights.py", title="Insights", icon=":material/insights:", url_path="insights"),
    ),
    (
        Permission.SEARCH,
        st.Page("views/lookup.py", title="Screenshot lookup", icon=":material/support_agent:", url_path="lookup"),
    ),
    (
        Permission.MODERATE,
        st.Page("views/moderation.py", title="Moderation queue", icon=":material/gavel:", url_path="moderation"),
    ),
    (Permission.READ_AUDIT, st.Page("views/audit.py", title="Audit log", icon=":material/policy:", url_path="audit")),
]

user = ui.gate()
if user is None:
    st.navigation([st.Page(ui.sign_in_page, title="Sign in", icon=":material/login:")]).run()
else:
    ui.account_sidebar(user)
    st.navigation([page for permission, page in PAGES if user.may(permission)]).run()
