"""The Microsoft Graph application permissions whoknows asks for, declared once.

`whoknows doctor` compares them with the ``roles`` claim of the app's Graph token, and
docs/admin-install.md lists the same ones in the same order (a test keeps the two in
step). ``enabled_by`` names the settings that switch the feature on (a boolean that is
true, or a list that is not empty); none means the feature is always on.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class GraphPermission:
    name: str
    feature: str
    """What stops working without it, in a few words."""
    why: str
    """Why whoknows needs it (shown as part of the fix)."""
    required: bool = True
    """Without it whoknows cannot work at all (else: one feature is lost)."""
    exchange_role: str = ""
    """The Exchange RBAC for Applications role that may grant it instead, scoped to some
    mailboxes; such a grant is not in the token's roles, so only reading a mailbox proves
    it. Empty: Entra ID only."""
    covered_by: tuple[str, ...] = ()
    """Broader permissions that include this one (they work, but grant more)."""
    enabled_by: tuple[str, ...] = ()
    """Environment variables of the settings that turn the feature on (any of them)."""


GRAPH_PERMISSIONS: tuple[GraphPermission, ...] = (
    GraphPermission(
        "User.Read.All",
        "the colleague directory",
        "to read colleagues' names, addresses, departments and Entra ids (`/users/delta`)",
    ),
    GraphPermission(
        "Organization.Read.All",
        "telling colleagues from outsiders",
        "to read the tenant's verified domains (`/organization`)",
    ),
    GraphPermission(
        "Mail.ReadBasic.All",
        "e-mail signals (the main signal)",
        "to read mail metadata of Inbox and Sent Items, without bodies or attachments",
        exchange_role="Application Mail.ReadBasic",
        covered_by=("Mail.Read", "Mail.ReadWrite"),
    ),
    GraphPermission(
        "Calendars.ReadBasic.All",
        "meeting signals",
        "to read meeting organisers, attendees and responses, without bodies",
        required=False,
        exchange_role="Application Calendars.Read",
        covered_by=("Calendars.Read", "Calendars.ReadWrite"),
    ),
    GraphPermission(
        "CallRecords.Read.All",
        "Teams call signals",
        "to read who was in a Teams call and for how long (`/communications/callRecords`)",
        required=False,
        enabled_by=("WHOKNOWS_SYNC_CALL_RECORDS",),
    ),
    GraphPermission(
        "TeamsAppInstallation.ReadWriteSelfForUser.All",
        "introduction requests to colleagues who never opened the app",
        "to install this app (and no other) for a colleague so that a request reaches them "
        "in Teams",
        required=False,
        covered_by=("TeamsAppInstallation.ReadWriteForUser.All",),
    ),
    GraphPermission(
        "GroupMember.Read.All",
        "allowed and excluded groups",
        "to read the transitive members of the groups in WHOKNOWS_ALLOWED_GROUPS and "
        "WHOKNOWS_EXCLUDED_GROUPS (`/groups/{id}/transitiveMembers`)",
        required=False,
        covered_by=("Group.Read.All", "Directory.Read.All"),
        enabled_by=("WHOKNOWS_ALLOWED_GROUPS", "WHOKNOWS_EXCLUDED_GROUPS"),
    ),
    GraphPermission(
        "Mail.Send",
        "introduction requests by e-mail",
        "to send an introduction request as the requester when Teams can't reach the colleague",
        required=False,
        exchange_role="Application Mail.Send",
        enabled_by=("WHOKNOWS_INTRO_EMAIL",),
    ),
)

BROADER_THAN_NEEDED: dict[str, str] = {
    "Mail.Read": "it includes message bodies and attachments; Mail.ReadBasic.All is enough",
    "Mail.ReadWrite": "it can change and delete mail; Mail.ReadBasic.All is enough",
    "Calendars.Read": (
        "tenant-wide it includes every event's body; Calendars.ReadBasic.All is enough "
        "(or Exchange's Application Calendars.Read scoped to the analysed group)"
    ),
    "Calendars.ReadWrite": "it can change calendars; Calendars.ReadBasic.All is enough",
    "User.ReadWrite.All": "it can change users; User.Read.All is enough",
    "Directory.ReadWrite.All": "it can change the directory; User.Read.All is enough",
    "TeamsAppInstallation.ReadWriteForUser.All": (
        "it can install any app; TeamsAppInstallation.ReadWriteSelfForUser.All is enough"
    ),
}
"""Roles that work but grant more than whoknows uses, and why to replace them."""
