"""Data-subject requests (GDPR Art. 12, 15–21): intake, identity verification,
deadlines, execution per kind, packages, reminders."""
