"""Sign-in rendering: an attempt, once Conditional Access has decided it, as Graph's signIn JSON
(status and failure texts, authentication steps, device, location, applied policies)."""

from __future__ import annotations

import base64
import random
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from simulator import demo, geo
from simulator.ca import Evaluation

FAILURES: dict[int, tuple[str | None, str | None]] = {
    0: (None, None),
    50126: (
        "Error validating credentials due to invalid username or password.",
        "The user didn't enter the right credentials. \u00a0It's expected to see some number of these errors "
        "in your logs due to users making mistakes.",
    ),
    50053: (
        "Account is locked because user tried to sign in too many times with an incorrect user ID or "
        "password.",
        "Sign-in was blocked by Smart Lockout after repeated failed attempts from this IP.",
    ),
    50057: ("User account is disabled. The account has been disabled by an administrator.", None),
    50074: (
        "Strong Authentication is required.",
        "The user is required to complete MFA and did not complete it.",
    ),
    50076: (
        "Due to a configuration change made by your administrator, or because you moved to a new location, "
        "you must use multi-factor authentication to access '{resource}'.",
        "MFA required in Azure AD",
    ),
    50079: (
        "Due to a configuration change made by your administrator, or because you moved to a new location, "
        "you must enroll in multi-factor authentication to access '{resource}'.",
        "User needs to register for MFA",
    ),
    500121: (
        "Authentication failed during strong authentication request.",
        "The user didn't complete the MFA prompt. They may have decided not to authenticate, timed out while "
        "doing other work, or has an issue with their authentication setup.",
    ),
    53000: (
        "Device is not in required device state: {state}. Conditional Access policy requires a compliant "
        "device, and the device is not compliant. The user must enroll their device with an approved MDM "
        "provider like Intune.",
        None,
    ),
    53003: (
        "Access has been blocked by Conditional Access policies. The access policy does not allow token "
        "issuance.",
        "Conditional Access policies blocked this sign-in.",
    ),
}
_MFA_METHOD_TEXT = {
    "microsoftAuthenticatorPush": ("Mobile app notification", "Notification approved"),
    "mobilePhone": ("Text message", "SMS verification"),
    "softwareOneTimePasscode": ("OATH verification code", "OTP code"),
    "fido2": ("FIDO2 security key", "FIDO2"),
    "windowsHelloForBusiness": ("Windows Hello for Business", "Windows Hello"),
    "microsoftAuthenticatorPasswordless": ("Passwordless phone sign-in", "Passwordless phone sign-in"),
}


def _iso(ts: int) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _guid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


@dataclass
class Attempt:
    """One sign-in attempt being built: who, with what, from where, and how it ended."""

    kind: str  # member | guest | disabled | hostile | service | technician | partner
    interactive: bool
    ts: int
    home_tenant: str
    person: demo.Person | None = None
    app: geo.App | None = None
    ip: str = ""
    asn: int = 0
    place: geo.Place | None = None
    device: geo.Device | None = None
    managed: bool = False
    user_kind: str = "member"  # member | guest | serviceProvider (what CA distinguishes)
    cross_tenant: str = "none"  # crossTenantAccessType
    error: int = 0
    evaluation: Evaluation | None = None
    sd_mfa: bool = False  # security defaults asked for MFA
    mfa_outcome: str = "ok"
    risky: bool = False


def render(resource_tenant_id: str, a: Attempt, rng: random.Random) -> dict:
    """The sign-in's JSON as Graph returns it (draws its ids and details from `rng`)."""
    person, app, evaluation, interactive, error = a.person, a.app, a.evaluation, a.interactive, a.error
    assert person is not None and app is not None and a.place is not None and a.device is not None
    place, device, managed = a.place, a.device, a.managed
    sign_in_id = _guid(rng)
    failure, details = FAILURES.get(error, FAILURES[53003])
    if failure:
        failure = failure.replace("{resource}", app.resource_id).replace(
            "{state}", (evaluation.failed_device_state if evaluation else "") or "compliant"
        )
    mfa_required = bool(evaluation and evaluation.mfa_required) or a.sd_mfa
    steps = auth_steps(a.ts, interactive, person, error, mfa_required, a.mfa_outcome, a.kind)
    requirement_policies = []
    if evaluation and evaluation.mfa_required:
        requirement_policies.append(
            {"requirementProvider": "multiConditionalAccess", "detail": "Conditional Access"}
        )
    if a.sd_mfa:
        requirement_policies.append(
            {"requirementProvider": "securityDefaults", "detail": "Security defaults"}
        )
    network = [
        {"networkType": "trustedNamedLocation" if trusted else "namedNetwork", "networkNames": [name]}
        for name, trusted in (evaluation.network_names if evaluation else [])
    ]
    jitter = (rng.random() - 0.5) / 20
    managed_id = person.device_id if managed else ""
    return {
        "id": sign_in_id,
        "createdDateTime": _iso(a.ts),
        "userDisplayName": person.display_name,
        "userPrincipalName": person.upn,
        "userId": person.id,
        "appId": app.app_id,
        "appDisplayName": app.name,
        "ipAddress": a.ip,
        "clientAppUsed": app.client_app,
        "userAgent": rng.choice(geo.HOSTILE_USER_AGENTS) if a.kind == "hostile" else device.user_agent,
        "correlationId": _guid(rng),
        "conditionalAccessStatus": evaluation.status if evaluation else "notApplied",
        "originalRequestId": sign_in_id,
        "authenticationProtocol": "none" if interactive else "oAuth2",
        "incomingTokenType": "none" if interactive else "refreshToken",
        "isInteractive": interactive,
        "homeTenantId": a.home_tenant,
        "homeTenantName": {
            demo.MSP_TENANT_ID: demo.MSP_NAME,
            demo.OTHER_PARTNER_TENANT_ID: demo.OTHER_PARTNER_NAME,
        }.get(a.home_tenant, "")
        if a.user_kind == "serviceProvider"
        else "",
        "isTenantRestricted": False,
        "tokenIssuerName": "",
        "tokenIssuerType": "AzureAD",
        "processingTimeInMilliseconds": rng.randint(40, 900),
        "riskDetail": "none",
        "riskLevelAggregated": "none",
        "riskLevelDuringSignIn": "medium" if a.risky else "none",
        "riskState": "atRisk" if a.risky else "none",
        "riskEventTypes": ["unfamiliarFeatures"] if a.risky else [],
        "riskEventTypes_v2": ["unfamiliarFeatures"] if a.risky else [],
        "resourceDisplayName": app.resource_name,
        "resourceId": app.resource_id,
        "resourceTenantId": resource_tenant_id,
        "authenticationMethodsUsed": [],
        "authenticationRequirement": "multiFactorAuthentication"
        if mfa_required
        else "singleFactorAuthentication",
        "uniqueTokenIdentifier": base64.urlsafe_b64encode(rng.randbytes(16)).decode().rstrip("="),
        "signInIdentifier": person.upn,
        "alternateSignInName": person.upn,
        "signInEventTypes": ["interactiveUser" if interactive else "nonInteractiveUser"],
        "servicePrincipalId": "",
        "servicePrincipalName": None,
        "userType": "guest" if a.user_kind == "guest" else "member",
        "flaggedForReview": False,
        "autonomousSystemNumber": a.asn,
        "crossTenantAccessType": a.cross_tenant,
        "mfaDetail": None,
        "status": {"errorCode": error, "failureReason": failure, "additionalDetails": details},
        "deviceDetail": {
            "deviceId": managed_id,
            "displayName": f"NW-{person.device_id[:6].upper()}" if managed else "",
            "operatingSystem": device.operating_system,
            "browser": device.browser,
            "isCompliant": managed,
            "isManaged": managed,
            "trustType": (
                "Hybrid Azure AD joined" if device.operating_system == "Windows10" else "Azure AD registered"
            )
            if managed
            else "",
        },
        "location": {
            "city": place.city,
            "state": place.state,
            "countryOrRegion": place.country,
            "geoCoordinates": {
                "altitude": None,
                "latitude": round(place.lat + jitter, 6),
                "longitude": round(place.lon + jitter, 6),
            },
        },
        "appliedConditionalAccessPolicies": evaluation.applied if evaluation else [],
        "authenticationProcessingDetails": [
            {"key": "Legacy TLS (TLS 1.0, 1.1, 3DES)", "value": "False"},
            {"key": "Is CAE Token", "value": "False" if interactive else "True"},
        ],
        "networkLocationDetails": network,
        "authenticationDetails": steps,
        "authenticationRequirementPolicies": requirement_policies,
        "sessionLifetimePolicies": (
            [
                {
                    "expirationRequirement": "signInFrequencyEveryTime",
                    "detail": "Sign-in frequency every time",
                }
            ]
            if evaluation and evaluation.sign_in_frequency_every_time
            else []
        ),
    }


def auth_steps(
    ts: int,
    interactive: bool,
    person: demo.Person,
    error: int,
    mfa_required: bool,
    mfa_outcome: str,
    kind: str,
) -> list[dict]:
    when = _iso(ts)
    if error in (50126, 50053, 50057):
        return [
            {
                "authenticationStepDateTime": when,
                "authenticationMethod": "Password",
                "authenticationMethodDetail": "Password in the cloud",
                "succeeded": False,
                "authenticationStepResultDetail": "Invalid username or password or Invalid on-premise "
                "username or password."
                if error == 50126
                else "Account locked or disabled",
                "authenticationStepRequirement": "Primary authentication",
            }
        ]
    if not interactive or mfa_outcome == "claim" and kind in ("service", "technician", "partner"):
        steps = [
            {
                "authenticationStepDateTime": when,
                "authenticationMethod": "Previously satisfied",
                "authenticationMethodDetail": None,
                "succeeded": True,
                "authenticationStepResultDetail": (
                    "First factor requirement satisfied by claim in the token"
                ),
                "authenticationStepRequirement": "Primary authentication",
            }
        ]
    else:
        steps = [
            {
                "authenticationStepDateTime": when,
                "authenticationMethod": "Password",
                "authenticationMethodDetail": "Password in the cloud",
                "succeeded": True,
                "authenticationStepResultDetail": "Correct password",
                "authenticationStepRequirement": "Primary authentication",
            }
        ]
    if mfa_required:
        if mfa_outcome == "claim":
            steps.append(
                {
                    "authenticationStepDateTime": when,
                    "authenticationMethod": "Previously satisfied",
                    "authenticationMethodDetail": None,
                    "succeeded": True,
                    "authenticationStepResultDetail": "MFA requirement satisfied by claim in the token",
                    "authenticationStepRequirement": "Multifactor authentication",
                }
            )
        else:
            method = next((m for m in person.methods if m in _MFA_METHOD_TEXT), "microsoftAuthenticatorPush")
            name, detail = _MFA_METHOD_TEXT[method]
            ok = mfa_outcome == "ok" and error == 0
            steps.append(
                {
                    "authenticationStepDateTime": when,
                    "authenticationMethod": name,
                    "authenticationMethodDetail": detail,
                    "succeeded": ok,
                    "authenticationStepResultDetail": "MFA successfully completed"
                    if ok
                    else {
                        "denied": "MFA denied; user declined the authentication",
                        "interrupted": "MFA denied; user did not respond to mobile app notification",
                        "unregistered": "User needs to register for MFA",
                    }.get(mfa_outcome, "Authentication in progress"),
                    "authenticationStepRequirement": "Multifactor authentication",
                }
            )
    return steps
