"""Syncing cohorts: state (SQLite), the membership difference, and the delivering engine."""

from .diff import Difference, difference, member_key
from .engine import EndpointPlan, Progress, SyncOptions, SyncReport, sync
from .state import DEFAULT_STATE, RunRecord, State, SyncRecord

__all__ = ["DEFAULT_STATE", "Difference", "EndpointPlan", "Progress", "RunRecord", "State", "SyncOptions",
           "SyncRecord", "SyncReport", "difference", "member_key", "sync"]
