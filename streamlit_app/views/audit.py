"""Audit log (admins): sign-ins, searches, ingests, decisions and refusals, newest first, with a CSV export;
and who may sign in with which role."""

import streamlit as st

from pipeline.access.audit import Action
from pipeline.access.auth import AuthMode, Permission
from streamlit_app import ui

SHOWN = 1000
ALL = "all"

user = ui.allowed(Permission.READ_AUDIT, "audit")
st.title("Audit log")
st.caption("Append-only: nothing in the app or the library can change or delete an entry.")

with ui.guard("reading the audit log"):
    audit = ui.audit_log()
    action_column, actor_column = st.columns(2)
    action = action_column.selectbox("Action", [ALL, *Action], key="audit_action")
    actor = actor_column.text_input("User", key="audit_actor", placeholder="any user")
    chosen_action, chosen_actor = None if action == ALL else Action(action), actor.strip() or None
    events = audit.events(action=chosen_action, actor=chosen_actor)
    st.download_button(  # made when pressed, after the role is checked again (see ui.audit_csv_export)
        f"Download CSV ({len(events)} events)",
        ui.audit_csv_export(user, ui.role_lookup(user), audit, action=chosen_action, actor=chosen_actor),
        file_name="vlsearch-audit.csv",
        mime="text/csv",
        key="audit_csv",
        on_click="ignore",
        icon=":material/download:",
    )
    st.dataframe(
        [
            {
                "time": event.time,
                "user": event.actor,
                "role": event.role,
                "action": str(event.action),
                "outcome": str(event.outcome),
                "detail": ", ".join(f"{key}: {value}" for key, value in event.detail.items()),
            }
            for event in events[:SHOWN]
        ],
        hide_index=True,
        key="audit_events",
    )
    if len(events) > SHOWN:
        st.caption(f"Showing the newest {SHOWN} of {len(events)}; the CSV has them all.")

if user.may(Permission.MANAGE_USERS) and user.mode == AuthMode.LOCAL:
    st.subheader("Users")
    with ui.guard("reading the users file"):
        accounts = ui.users_file().accounts()
        st.dataframe(
            [{"user": account.name, "role": str(account.role)} for account in accounts.values()],
            hide_index=True,
            key="audit_users",
        )
        st.caption("Manage them from a shell on the server: `python -m pipeline users add|remove|set-role|list`.")
