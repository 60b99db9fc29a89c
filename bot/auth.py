"""Who may talk to the bot: the app identity, token validation endpoints and tenants."""

from __future__ import annotations

from dataclasses import dataclass

from bot import settings

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
BOT_FRAMEWORK_METADATA_URL = "https://login.botframework.com/v1/.well-known/openidconfiguration"
EMULATOR_METADATA_URL = (
    "https://login.microsoftonline.com/common/v2.0/.well-known/openid-configuration"
)
EMULATOR_ISSUERS = frozenset(
    {
        "https://sts.windows.net/d6d49420-f39b-4df7-a1dc-d59a935871db/",
        "https://login.microsoftonline.com/d6d49420-f39b-4df7-a1dc-d59a935871db/v2.0",
        "https://sts.windows.net/f8cdef31-a31e-4b4a-93e4-5f571e91255a/",
        "https://login.microsoftonline.com/f8cdef31-a31e-4b4a-93e4-5f571e91255a/v2.0",
        "https://sts.windows.net/72f988bf-86f1-41af-91ab-2d7cd011db47/",
        "https://sts.windows.net/cab8a31a-1906-4287-a0d8-4eef66b95f6e/",
        "https://login.microsoftonline.us/cab8a31a-1906-4287-a0d8-4eef66b95f6e/v2.0",
        "https://login.microsoftonline.us/f8cdef31-a31e-4b4a-93e4-5f571e91255a/",
        "https://login.microsoftonline.us/f8cdef31-a31e-4b4a-93e4-5f571e91255a/v2.0",
    }
)
"""Issuers of Bot Framework Emulator tokens: the SDKs' "emulator path" (off by default)."""


@dataclass(frozen=True)
class AuthConfig:
    """The Bot Framework identity of this server, read once from the settings.

    Without ``app_id`` the server runs in local development mode: requests are not
    authenticated, so it must only listen on loopback.
    """

    app_id: str = ""
    app_password: str = ""
    app_type: str = "MultiTenant"
    app_tenant_id: str = ""
    allowed_tenants: tuple[str, ...] = ()
    openid_metadata_url: str = ""
    token_issuer: str = "https://api.botframework.com"
    emulator_tokens: bool = False
    emulator_openid_metadata_url: str = EMULATOR_METADATA_URL

    @classmethod
    def from_settings(cls) -> AuthConfig:
        return cls(
            app_id=settings.MICROSOFT_APP_ID.get().strip(),
            app_password=settings.MICROSOFT_APP_PASSWORD.get(),
            app_type=settings.MICROSOFT_APP_TYPE.get().strip() or "MultiTenant",
            app_tenant_id=settings.MICROSOFT_APP_TENANT_ID.get().strip(),
            allowed_tenants=settings.ALLOWED_TENANTS.get(),
            openid_metadata_url=settings.BOT_OPENID_METADATA_URL.get().strip(),
            token_issuer=settings.BOT_TOKEN_ISSUER.get().strip(),
            emulator_tokens=settings.BOT_EMULATOR_TOKENS.get(),
        )

    @property
    def metadata_url(self) -> str:
        """Where the keys of channel (Bot Connector) tokens are published."""
        return self.openid_metadata_url or BOT_FRAMEWORK_METADATA_URL

    def key_source(self, issuer: object) -> str | None:
        """The metadata URL for tokens of ``issuer``; None for an issuer not accepted."""
        if issuer == self.token_issuer:
            return self.metadata_url
        if self.emulator_tokens and issuer in EMULATOR_ISSUERS:
            return self.emulator_openid_metadata_url
        return None

    @property
    def dev_mode(self) -> bool:
        """No app id: unauthenticated local development."""
        return not self.app_id

    @property
    def tenants(self) -> frozenset[str]:
        """The tenants served (lower-case ids)."""
        ids = {t.strip().lower() for t in self.allowed_tenants if t.strip()}
        if self.app_tenant_id:
            ids.add(self.app_tenant_id.lower())
        return frozenset(ids)

    def tenant_allowed(self, tenant_id: str | None) -> bool:
        """Only configured tenants are served; with none configured, only in dev mode."""
        if not self.tenants:
            return self.dev_mode
        return tenant_id is not None and tenant_id.lower() in self.tenants

    def problems(self) -> list[str]:
        """Configuration mistakes that stop the server from starting."""
        found = []
        if not self.dev_mode and not self.tenants:
            found.append(
                "MicrosoftAppId is set but no tenant is: set MicrosoftAppTenantId or "
                "WHOKNOWS_ALLOWED_TENANTS (only configured tenants are served)"
            )
        app_type = self.app_type.lower()
        if not self.dev_mode and app_type == "singletenant" and not self.app_tenant_id:
            found.append("MicrosoftAppType=SingleTenant needs MicrosoftAppTenantId")
        if not self.dev_mode and app_type != "userassignedmsi" and not self.app_password:
            found.append("MicrosoftAppPassword is required with MicrosoftAppId")
        return found
