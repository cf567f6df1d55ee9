"""Offers: incentive programs, decisions, approvals, budgets and holdouts."""
