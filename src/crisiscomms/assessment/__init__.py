"""Assessment: how grave and urgent a crisis is, who it touches, from its mentions."""
