import os

from piccolo.conf.apps import AppConfig

from messaging.tables import OutboxMessage, WebhookEndpoint

APP_CONFIG = AppConfig(
    app_name="messaging",
    migrations_folder_path=os.path.join(os.path.dirname(__file__), "piccolo_migrations"),
    table_classes=[OutboxMessage, WebhookEndpoint],
    migration_dependencies=["tenants.piccolo_app", "consent.piccolo_app"],
    commands=[],
)
