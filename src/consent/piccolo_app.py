import os

from piccolo.conf.apps import AppConfig

from consent.tables import (
    AuditEvent,
    ChangeLog,
    ConsentEvent,
    ConsentState,
    Contact,
    DataSubjectRequest,
    FormVersion,
    IdempotencyRecord,
    ImportJob,
    LedgerHead,
    Notice,
    Purpose,
    ReconsentCampaign,
    ReconsentRequest,
    RequestEvent,
    Segment,
    Suppression,
)

APP_CONFIG = AppConfig(
    app_name="consent",
    migrations_folder_path=os.path.join(os.path.dirname(__file__), "piccolo_migrations"),
    table_classes=[
        Contact,
        Purpose,
        Notice,
        ConsentEvent,
        LedgerHead,
        ConsentState,
        AuditEvent,
        IdempotencyRecord,
        Segment,
        Suppression,
        ImportJob,
        DataSubjectRequest,
        RequestEvent,
        ChangeLog,
        FormVersion,
        ReconsentCampaign,
        ReconsentRequest,
    ],
    migration_dependencies=["tenants.piccolo_app"],
    commands=[],
)
