import os

from piccolo.conf.apps import AppConfig

from tenants.tables import Agency, ApiKey, Membership, StaffSession, StaffUser, Tenant

APP_CONFIG = AppConfig(
    app_name="tenants",
    migrations_folder_path=os.path.join(os.path.dirname(__file__), "piccolo_migrations"),
    table_classes=[Agency, Tenant, StaffUser, Membership, ApiKey, StaffSession],
    migration_dependencies=[],
    commands=[],
)
