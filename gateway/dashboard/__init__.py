"""Dashboards: who may log in (users, share links, sessions) and the pages they see."""
