"""Drills: a recorded crisis replayed through the real playbook on a stack of its own, then scored.

`spec` reads the drill file, `replay` prepares the drill's project (its mentions on the drill's clock, its
injects), `conductor` runs it (the team's moves and the scripted approvers' answers on that clock), `score` turns
the drill's post-mortem into the drill score against the playbook's targets.
"""
