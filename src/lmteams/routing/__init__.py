"""Routing work to specialists: who may serve a piece of work, and which replica serves it.

``roles`` (eligibility: role and skill matching, one error text), ``settings`` (the team
file's ``roles:`` section), ``balance`` (replica policies as pure state machines) and
``balancer`` (a team's replica groups and their books) are pure; the team's call path
(:mod:`lmteams.team`) carries out their decisions, and ``dispatch`` is its API for work sent
to a role. Nothing is imported here, so that reading the settings loads no policy code.
"""
