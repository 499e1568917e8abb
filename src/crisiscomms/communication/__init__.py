"""Communication: message packs, approval, release to channels, cadence, claims and the kill switch."""
