"""The Streamlit app: thin pages over pipeline/ (`vlsearch app` or `streamlit run streamlit_app/app.py`)."""
