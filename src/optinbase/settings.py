"""Configuration, read once from the environment (documented in README and .env.example)."""

from __future__ import annotations

import ipaddress
import os
import re
import secrets
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from optinbase import dotenv, ed25519


class ConfigError(Exception):
    """A setting is missing or malformed; the message says which."""


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be an integer, got {raw!r}") from None


def _positive(name: str, default: int) -> int:
    value = _int(name, default)
    if value < 1:
        raise ConfigError(f"{name} must be at least 1, got {value}")
    return value


def _secret_key(environment: str) -> str:
    key = os.environ.get("SECRET_KEY", "")
    if key:
        if len(key) < 32:
            raise ConfigError("SECRET_KEY must be at least 32 characters")
        return key
    if environment == "production":
        raise ConfigError("SECRET_KEY is required when OPTINBASE_ENV=production")
    # Development: generate once and keep it beside the database.
    path = Path(os.environ.get("SECRET_KEY_FILE", ".optinbase-secret"))
    if path.exists():
        return path.read_text().strip()
    key = secrets.token_urlsafe(48)
    path.write_text(key + "\n")
    path.chmod(0o600)
    return key


def beside_database(database_url: str, name: str) -> Path:
    """Where development files live: beside the embedded SQLite database (its
    directory), else in the current directory; absolute, so messages name it."""
    if database_url.startswith("sqlite:///"):
        return Path(database_url[len("sqlite:///"):]).absolute().parent / name
    return Path(name).absolute()


def _retired_public_keys() -> tuple:
    """LEDGER_RETIRED_PUBLIC_KEYS: the public keys of signing keys rotated out
    (base64 of the raw 32 bytes, comma- or space-separated): checkpoints they
    signed still verify."""
    keys = []
    for item in os.environ.get("LEDGER_RETIRED_PUBLIC_KEYS", "").replace(",", " ").split():
        try:
            keys.append(ed25519.load_public(item))
        except ed25519.KeyProblem as exc:
            raise ConfigError(f"LEDGER_RETIRED_PUBLIC_KEYS: {item[:20]!r}…: {exc}") from None
    return tuple(keys)


def _ledger_signing_key(environment: str, database_url: str) -> bytes:
    """The raw Ed25519 private key that signs ledger checkpoints: from
    LEDGER_SIGNING_KEY (a PEM/raw value or a path to it); in development,
    generated once beside the database. Never stored in the database."""
    value = os.environ.get("LEDGER_SIGNING_KEY", "").strip()
    try:
        if value:
            return ed25519.load(value)
        if environment == "production":
            raise ConfigError("LEDGER_SIGNING_KEY is required when OPTINBASE_ENV=production")
        return ed25519.load_or_create(beside_database(database_url, ".optinbase-ledger-key"))
    except ed25519.KeyProblem as exc:
        raise ConfigError(f"LEDGER_SIGNING_KEY: {exc}") from None


@dataclass(frozen=True)
class Settings:
    environment: str
    database_url: str
    database_owner_url: str
    secret_key: str
    public_url: str
    host: str
    port: int
    smtp_url: str
    max_body_bytes: int
    key_cache_seconds: int
    db_pool_max: int
    import_inline_bytes: int = 1_048_576
    import_chunk_rows: int = 2_500
    mail_from: str = "Optinbase <no-reply@localhost>"
    outbox_worker: bool = True  # deliver the outbox from the server process too
    # Webhooks may target loopback and private addresses (development and tests only).
    webhook_allow_private: bool = False
    # Tests only: a host:port allowed (over http) to serve SNS signing
    # certificates and subscription URLs (messaging.inbound.sns).
    inbound_sns_test_host: str = ""
    ledger_signing_key: bytes = field(default=b"", repr=False)  # raw Ed25519 private key
    ledger_retired_public_keys: tuple = ()  # Ed25519PublicKey of keys rotated out
    ledger_checkpoint_dir: str = "ledger-checkpoints"
    # Peers whose X-Forwarded-For is believed (api.clients); none by default.
    trusted_proxies: tuple = ()
    # Shared limiters in Redis instead of the database (optinbase.limits).
    redis_url: str = ""
    # Origins (scheme://host[:port]) besides PUBLIC_URL's allowed to post the public forms.
    form_origins: tuple = ()
    # Operations (README "Operating Optinbase").
    erasure_journal_dir: str = "erasure-journal"
    metrics_token: str = field(default="", repr=False)
    mail_dir: str = "mail"  # development mailer's folder (no SMTP_URL)
    ready_outbox_stall_seconds: int = 900  # GET /ready: oldest due message older than this
    # Origins whose browser scripts may call /v1 (CORS_ORIGINS); empty: none may.
    cors_origins: tuple[str, ...] = ()
    argon2_profile: str = "rfc9106-low-memory"  # ARGON2_PROFILES
    extra: dict = field(default_factory=dict)

    @property
    def is_postgres(self) -> bool:
        return self.database_url.startswith(("postgres://", "postgresql://"))

    @property
    def production(self) -> bool:
        return self.environment == "production"


def _flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes")


def _smtp_url(environment: str) -> str:
    """Its form and TLS mode are checked by the mailer when a process starts
    (messaging.mail.SmtpMailer); production never runs without one."""
    url = os.environ.get("SMTP_URL", "")
    if not url and environment == "production":
        raise ConfigError("SMTP_URL is required when OPTINBASE_ENV=production")
    return url


def load_settings() -> Settings:
    dotenv.load()
    environment = os.environ.get("OPTINBASE_ENV", "development")
    database_url = os.environ.get("DATABASE_URL") or "sqlite:///optinbase.sqlite3"
    if not database_url.startswith(("sqlite:///", "postgres://", "postgresql://")):
        raise ConfigError(
            "DATABASE_URL must start with sqlite:///, postgres:// or postgresql://"
        )
    return Settings(
        environment=environment,
        database_url=database_url,
        database_owner_url=os.environ.get("DATABASE_OWNER_URL") or database_url,
        secret_key=_secret_key(environment),
        public_url=(os.environ.get("PUBLIC_URL") or "http://127.0.0.1:8000").rstrip("/"),
        host=os.environ.get("HOST") or "127.0.0.1",
        port=_int("PORT", 8000),
        smtp_url=_smtp_url(environment),
        max_body_bytes=_int("MAX_BODY_BYTES", 1_048_576),
        key_cache_seconds=_int("API_KEY_CACHE_SECONDS", 30),
        db_pool_max=_int("DATABASE_POOL_MAX", 20),
        import_inline_bytes=_int("IMPORT_INLINE_BYTES", 1_048_576),
        import_chunk_rows=_positive("IMPORT_CHUNK_ROWS", 2_500),
        mail_from=os.environ.get("MAIL_FROM") or "Optinbase <no-reply@localhost>",
        outbox_worker=os.environ.get("OUTBOX_WORKER", "1") not in ("0", "false", "no"),
        webhook_allow_private=_webhook_allow_private(environment),
        inbound_sns_test_host=_sns_test_host(environment),
        ledger_signing_key=_ledger_signing_key(environment, database_url),
        ledger_retired_public_keys=_retired_public_keys(),
        ledger_checkpoint_dir=os.environ.get("LEDGER_CHECKPOINT_DIR")
        or str(beside_database(database_url, "ledger-checkpoints")),
        trusted_proxies=_trusted_proxies(),
        redis_url=_redis_url(),
        form_origins=_origins("FORM_ORIGINS"),
        erasure_journal_dir=os.environ.get("ERASURE_JOURNAL_DIR")
        or str(beside_database(database_url, "erasure-journal")),
        metrics_token=os.environ.get("METRICS_TOKEN", ""),
        mail_dir=os.environ.get("MAIL_DIR") or str(beside_database(database_url, "mail")),
        ready_outbox_stall_seconds=_int("READY_OUTBOX_STALL_SECONDS", 900),
        cors_origins=_origins("CORS_ORIGINS"),
        argon2_profile=_argon2_profile(environment),
    )


# argon2id's cost for passwords and key secrets (tenants.passwords), by ARGON2_PROFILE.
# Default: RFC 9106's "low memory" choice. `owasp-minimum`, OWASP's floor (~6 times
# cheaper), suits small hosts. `test-only` is for test suites, as Django's documentation
# advises a fast hasher there: still argon2id through the same code, ~0.5 ms a hash
# instead of ~20 (a third of the API tests' CPU went to hashing the keys and passwords
# each test makes); refused in production, where it would leave stolen hashes cheap to crack.
ARGON2_PROFILES = {
    "rfc9106-low-memory": dict(time_cost=3, memory_cost=65536, parallelism=4),
    "owasp-minimum": dict(time_cost=2, memory_cost=19456, parallelism=1),
    "test-only": dict(time_cost=1, memory_cost=1024, parallelism=1),
}


def _argon2_profile(environment: str) -> str:
    profile = os.environ.get("ARGON2_PROFILE") or "rfc9106-low-memory"
    if profile not in ARGON2_PROFILES:
        raise ConfigError(f"ARGON2_PROFILE must be one of {', '.join(ARGON2_PROFILES)}")
    if profile == "test-only" and environment == "production":
        raise ConfigError("ARGON2_PROFILE=test-only is for test suites: refused when"
                          " OPTINBASE_ENV=production")
    return profile


def _trusted_proxies() -> tuple:
    """TRUSTED_PROXIES: comma- or space-separated CIDRs (or single addresses)
    of the reverse proxies in front of the app; only their X-Forwarded-For is
    believed. Empty: the TCP peer is the client."""
    raw = os.environ.get("TRUSTED_PROXIES", "")
    networks = []
    for item in raw.replace(",", " ").split():
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise ConfigError(f"TRUSTED_PROXIES: {item!r} is not an address or CIDR") from None
    return tuple(networks)


def _redis_url() -> str:
    url = os.environ.get("REDIS_URL", "").strip()
    if url and not url.startswith(("redis://", "rediss://", "unix://")):
        raise ConfigError("REDIS_URL must start with redis://, rediss:// or unix://")
    return url


def _origins(name: str) -> tuple:
    origins = []
    for item in os.environ.get(name, "").replace(",", " ").split():
        origin = item.rstrip("/").lower()
        if not re.fullmatch(r"https?://[a-z0-9.\-\[\]:]+", origin):
            raise ConfigError(f"{name}: {item!r} is not an origin (scheme://host[:port])")
        origins.append(origin)
    return tuple(origins)


def _webhook_allow_private(environment: str) -> bool:
    allowed = _flag("WEBHOOK_ALLOW_PRIVATE")
    if allowed and environment == "production":
        raise ConfigError("WEBHOOK_ALLOW_PRIVATE is for development: refused when"
                          " OPTINBASE_ENV=production")
    return allowed


def _sns_test_host(environment: str) -> str:
    host = os.environ.get("INBOUND_SNS_TEST_HOST", "").strip()
    if host and environment == "production":
        raise ConfigError("INBOUND_SNS_TEST_HOST is for tests: refused when"
                          " OPTINBASE_ENV=production")
    return host


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return load_settings()
