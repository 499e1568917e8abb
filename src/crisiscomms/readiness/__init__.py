"""Is the team ready for a crisis? The preparation phase's readiness report: every person reachable with a backup,
every message the playbook can send rendering cleanly, every channel reachable without publishing anything,
every approval chain able to decide, monitoring answering, and the open actions of past post-mortems."""
