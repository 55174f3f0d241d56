"""Content moderation: known-bad reference images, matching uploads against them, and a review queue.

- library: reference images labelled with a policy category, in their own collection
- rules, judge: the ways an upload can resemble known-bad content (with pipeline/pdq_index.py and keypoints.py,
  shared with insights and search)
- matching: runs those rules and explains each match (rule, reference, category, score)
- queue: the SQLite review queue with leases and an append-only audit log; export: its CSV
- scan: match files and queue the ones that match; services: wiring from settings
- desk: the queue for a signed-in app user, with role checks and the access audit log
- cli (`python -m pipeline moderate`) and streamlit_app/views/moderation.py sit on top
"""
