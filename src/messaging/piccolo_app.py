import os

from piccolo.conf.apps import AppConfig

from messaging.tables import InboundEndpoint, InboundEvent, OutboxMessage, WebhookEndpoint

APP_CONFIG = AppConfig(
    app_name="messaging",
    migrations_folder_path=os.path.join(os.path.dirname(__file__), "piccolo_migrations"),
    table_classes=[OutboxMessage, WebhookEndpoint, InboundEndpoint, InboundEvent],
    migration_dependencies=["tenants.piccolo_app", "consent.piccolo_app"],
    commands=[],
)
