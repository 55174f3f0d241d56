"""Access: roles and sign-in, API tokens, the audit log, per-user limits."""
