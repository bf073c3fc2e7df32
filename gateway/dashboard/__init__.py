"""Dashboards: who may log in (users, share links, sessions, throttling) and the pages they see.

``routes`` assembles the pages; ``views`` and ``requests_views`` render the figures and the privacy
requests; ``auth_views``, ``users``, ``passwords``, ``sessions``, ``throttle`` and ``security`` keep
the door; ``access`` decides which sites a user or a share link sees.

An edge: it may import the domain (``gateway.stats``, ``gateway.rights``, ``gateway.consent``),
``gateway.config`` and ``gateway.web``; nothing imports it but the app and the CLI.
"""
