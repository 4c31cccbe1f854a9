"""Static reference data: places, networks and applications the demo sign-ins use.

Kept apart from the demo package so the demo's *configuration* (tenants, policies) reads on its own.
"""

from __future__ import annotations

import ipaddress
import random
from dataclasses import dataclass


@dataclass(frozen=True)
class Place:
    city: str
    state: str
    country: str  # ISO 3166 alpha-2, as Graph's countryOrRegion
    lat: float
    lon: float
    utc_offset: int  # hours; standard time is close enough for a demo's working day


PLACES: dict[str, Place] = {
    p.city: p
    for p in (
        Place("Portland", "Oregon", "US", 45.5152, -122.6784, -8),
        Place("Seattle", "Washington", "US", 47.6062, -122.3321, -8),
        Place("Tacoma", "Washington", "US", 47.2529, -122.4443, -8),
        Place("Spokane", "Washington", "US", 47.6588, -117.4260, -8),
        Place("Eugene", "Oregon", "US", 44.0521, -123.0868, -8),
        Place("Bend", "Oregon", "US", 44.0582, -121.3153, -8),
        Place("Boise", "Idaho", "US", 43.6150, -116.2023, -7),
        Place("Sacramento", "California", "US", 38.5816, -121.4944, -8),
        Place("Napa", "California", "US", 38.2975, -122.2869, -8),
        Place("San Diego", "California", "US", 32.7157, -117.1611, -8),
        Place("Phoenix", "Arizona", "US", 33.4484, -112.0740, -7),
        Place("Salt Lake City", "Utah", "US", 40.7608, -111.8910, -7),
        Place("Denver", "Colorado", "US", 39.7392, -104.9903, -7),
        Place("Austin", "Texas", "US", 30.2672, -97.7431, -6),
        Place("Chicago", "Illinois", "US", 41.8781, -87.6298, -6),
        Place("Minneapolis", "Minnesota", "US", 44.9778, -93.2650, -6),
        Place("Atlanta", "Georgia", "US", 33.7490, -84.3880, -5),
        Place("Boston", "Massachusetts", "US", 42.3601, -71.0589, -5),
        Place("Hartford", "Connecticut", "US", 41.7658, -72.6734, -5),
        Place("Ashburn", "Virginia", "US", 39.0438, -77.4874, -5),
        Place("Vancouver", "British Columbia", "CA", 49.2827, -123.1207, -8),
        Place("Toronto", "Ontario", "CA", 43.6532, -79.3832, -5),
        Place("London", "England", "GB", 51.5072, -0.1276, 0),
        Place("Dublin", "Dublin", "IE", 53.3498, -6.2603, 0),
        Place("Amsterdam", "Noord-Holland", "NL", 52.3676, 4.9041, 1),
        # Origins of hostile traffic (password sprays, token replay attempts).
        Place("Moscow", "Moscow", "RU", 55.7558, 37.6173, 3),
        Place("Frankfurt am Main", "Hesse", "DE", 50.1109, 8.6821, 1),
        Place("Nanjing", "Jiangsu", "CN", 32.0603, 118.7969, 8),
        Place("Hanoi", "Ha Noi", "VN", 21.0278, 105.8342, 7),
        Place("Sao Paulo", "Sao Paulo", "BR", -23.5505, -46.6333, -3),
        Place("Lagos", "Lagos", "NG", 6.5244, 3.3792, 1),
        Place("Bengaluru", "Karnataka", "IN", 12.9716, 77.5946, 5),
    )
}

# (first octets, autonomous system number) of consumer ISPs and carriers in North America / Europe.
# fmt: off
HOME_NETWORKS: tuple[tuple[str, int], ...] = (
    ("73.", 7922), ("24.", 20115), ("76.", 7922), ("98.", 7922), ("71.", 20115), ("99.", 7018),
    ("108.", 7018), ("174.", 701), ("96.", 701), ("50.", 7922), ("67.", 20115), ("68.", 7922),
    ("69.", 20115), ("70.", 7018), ("75.", 20115),
)
# fmt: on
MOBILE_NETWORKS: tuple[tuple[str, int], ...] = (("172.56.", 21928), ("174.205.", 6167), ("107.77.", 20057))
# fmt: off
OFFICE_NETWORKS: tuple[tuple[str, int], ...] = (
    ("64.", 7018), ("65.", 701), ("66.", 209), ("72.", 20115), ("74.", 7922), ("97.", 701),
    ("104.", 6939), ("173.", 7922), ("184.", 701), ("208.", 3356), ("209.", 3356),
)
# fmt: on
# The other partner's office network (Bengaluru).
PARTNER_NETWORK: tuple[str, int] = ("49.207.", 55836)
# Hostile origins: (city key in PLACES, first octets, ASN).
HOSTILE_ORIGINS: tuple[tuple[str, str, int], ...] = (
    ("Moscow", "45.141.", 210644),
    ("Frankfurt am Main", "185.220.", 208294),
    ("Nanjing", "222.186.", 4134),
    ("Hanoi", "116.110.", 7552),
    ("Sao Paulo", "177.54.", 28573),
    ("Lagos", "102.89.", 29465),
)


def public_ip(rng: random.Random, prefix: str) -> str:
    """A public IPv4 address starting with `prefix` ('73.' or '172.56.'), never private/reserved."""
    while True:
        parts = prefix.rstrip(".").split(".")
        while len(parts) < 4:
            parts.append(str(rng.randint(1, 254)))
        candidate = ".".join(parts)
        address = ipaddress.ip_address(candidate)
        if address.is_global:
            return candidate


@dataclass(frozen=True)
class App:
    app_id: str
    name: str
    resource_id: str
    resource_name: str
    client_app: str  # clientAppUsed
    office365: bool = False  # member of the 'Office365' app group CA policies can target
    admin_portal: bool = False  # member of 'MicrosoftAdminPortals'


GRAPH_RESOURCE = ("00000003-0000-0000-c000-000000000000", "Microsoft Graph")
EXO_RESOURCE = ("00000002-0000-0ff1-ce00-000000000000", "Office 365 Exchange Online")
SPO_RESOURCE = ("00000003-0000-0ff1-ce00-000000000000", "Office 365 SharePoint Online")
TEAMS_RESOURCE = ("cc15fd57-2c6c-4117-a88c-83b1d56b4bbe", "Microsoft Teams Services")
ARM_RESOURCE = ("797f4846-ba00-4fd7-ba43-dac1f8f63013", "Windows Azure Service Management API")

# clientAppUsed of modern clients (CLIENT_APP_TYPE has every value).
BROWSER = "Browser"
DESKTOP = "Mobile Apps and Desktop clients"

# fmt: off
# What people use every day (interactive and the silent token refreshes that follow).
USER_APPS: tuple[App, ...] = (
    App("4765445b-32c6-49b0-83e6-1d93765276ca", "OfficeHome", *GRAPH_RESOURCE, BROWSER, office365=True),
    App("9199bf20-a13f-4107-85dc-02114787ef48", "One Outlook Web", *EXO_RESOURCE, BROWSER, office365=True),
    App("1fec8e78-bce4-4aaf-ab1b-5451cc387264", "Microsoft Teams", *TEAMS_RESOURCE, DESKTOP, office365=True),
    App("d3590ed6-52b3-4102-aeff-aad2292ab01c", "Microsoft Office", *SPO_RESOURCE, DESKTOP, office365=True),
    App("27922004-5251-4030-b22d-91ecd9a37ea4", "Outlook Mobile", *EXO_RESOURCE, DESKTOP, office365=True),
    App("08e18876-6177-487e-b8b5-cf950c1e598c", "SharePoint Online Web Client Extensibility", *SPO_RESOURCE,
        BROWSER, office365=True),
    App("19db86c3-b2b9-44cc-b339-36da233a3be2", "My Signins", *GRAPH_RESOURCE, BROWSER),
)
# Legacy protocols (Exchange Online itself is the app): what 'Block legacy authentication' policies catch.
LEGACY_APPS: tuple[App, ...] = tuple(
    App(*EXO_RESOURCE, *EXO_RESOURCE, client_app, office365=True)
    for client_app in ("Exchange ActiveSync", "IMAP4", "Authenticated SMTP")
)
# Administrative tools technicians use in client tenants through GDAP.
ADMIN_APPS: tuple[App, ...] = (
    App("c44b4083-3bb0-49c1-b47d-974e53cbdf3c", "Azure Portal", *ARM_RESOURCE, BROWSER, admin_portal=True),
    App("00000006-0000-0ff1-ce00-000000000000", "Microsoft Office 365 Portal", *GRAPH_RESOURCE,
        BROWSER, office365=True, admin_portal=True),
    App("fb78d390-0c51-40cd-8e17-fdbfab77341b", "Microsoft Exchange REST API Based Powershell", *EXO_RESOURCE,
        DESKTOP),
    App("de8bc8b5-d9f9-48b1-a8ad-b748da725064", "Graph Explorer", *GRAPH_RESOURCE, BROWSER),
)
# fmt: on

# CA's clientAppTypes for each clientAppUsed value.
CLIENT_APP_TYPE = {
    BROWSER: "browser",
    DESKTOP: "mobileAppsAndDesktopClients",
    "Exchange ActiveSync": "exchangeActiveSync",
    "IMAP4": "other",
    "POP3": "other",
    "Authenticated SMTP": "other",
}


@dataclass(frozen=True)
class Device:
    operating_system: str
    browser: str
    user_agent: str
    managed: bool  # joined/enrolled: compliant when the tenant uses Intune


DEVICES: tuple[Device, ...] = (
    Device(
        "Windows10",
        "Edge 130.0.0",
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
        "(KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36 Edg/130.0.0.0",
        True,
    ),
    Device(
        "Windows10",
        "Chrome 131.0.0",
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
        "(KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
        True,
    ),
    Device(
        "MacOs",
        "Safari 18.1",
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 "
        "(KHTML, like Gecko) Version/18.1 Safari/605.1.15",
        False,
    ),
    Device(
        "Ios",
        "Mobile Safari 18.1",
        "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) "
        "AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
        False,
    ),
    Device(
        "Android",
        "Chrome Mobile 131.0.0",
        "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 "
        "(KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36",
        False,
    ),
)
# CIPP's Function App calling Graph with the service account's refresh token.
SCRIPT_DEVICE = Device(
    "Windows",
    "",
    "Mozilla/5.0 (Windows NT 10.0; Microsoft Windows 10.0.20348; en-US) PowerShell/7.4.6",
    False,
)
HOSTILE_USER_AGENTS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/114.0.0.0 Safari/537.36",
    "python-requests/2.31.0",
    "BAV2ROPC",
)

# fmt: off
FIRST_NAMES = (
    "Adele", "Alex", "Amara", "Andre", "Anika", "Ben", "Bianca", "Carlos", "Chen", "Chloe", "Dana",
    "Daniel", "Diego", "Elena", "Emeka", "Emily", "Ethan", "Farah", "Gabriel", "Grace", "Hannah",
    "Hiro", "Isabel", "Ivan", "Jada", "James", "Jasmine", "Jonas", "Julia", "Kai", "Karen", "Kenji",
    "Laila", "Leo", "Lily", "Lucas", "Maya", "Megan", "Miguel", "Mina", "Nadia", "Nathan", "Nina",
    "Noah", "Olivia", "Omar", "Priya", "Rafael", "Rachel", "Ravi", "Rosa", "Sam", "Sara", "Sean",
    "Sofia", "Tariq", "Tess", "Thomas", "Uma", "Victor", "Wei", "Yara", "Yusuf", "Zoe", "Aaron", "Beth",
    "Colin", "Deepa", "Erik", "Fiona",
)
# fmt: on
# fmt: off
LAST_NAMES = (
    "Abara", "Alvarez", "Andersen", "Bakker", "Becker", "Brennan", "Castillo", "Chen", "Cohen", "Costa",
    "Dubois", "Edwards", "Fischer", "Garcia", "Gupta", "Hansen", "Harper", "Ito", "Jensen", "Kaur",
    "Kim", "Kowalski", "Larsen", "Lee", "Lindqvist", "Lopez", "Martin", "Mensah", "Moreau", "Murphy",
    "Nakamura", "Nguyen", "Novak", "Okafor", "Olsen", "Patel", "Perez", "Quinn", "Rahman", "Reyes",
    "Rossi", "Sato", "Schmidt", "Silva", "Singh", "Sokolov", "Tan", "Thompson", "Tran", "Vance",
    "Walsh", "Weber", "Wilber", "Wong", "Yamada", "Young", "Zhang", "Ziegler",
)
# fmt: on
# fmt: off
JOB_TITLES = (
    "Accountant", "Account Manager", "Analyst", "Office Manager", "Sales Representative", "Engineer",
    "Project Manager", "Coordinator", "Designer", "Customer Service Representative", "Operations Lead",
    "Marketing Specialist", "HR Generalist", "Paralegal", "Technician", "Director",
)
# fmt: on
