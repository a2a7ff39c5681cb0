"""LearnUpon LMS target: users, enrolments (with bulk jobs), groups, teams for manager scope, SSO identity."""

from enrolsync.connectors.learnupon.connector import LearnUponTarget

__all__ = ["LearnUponTarget"]
