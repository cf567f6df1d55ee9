"""Scoring: health scores, segments, tiers and milestones for every account."""
