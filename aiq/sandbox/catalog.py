"""A practice's reference data: clinics, staff, the service catalogue, products and categories.

Everything is built from one `random.Random`, so the same seed gives the same practice. Prices
are whole dollars (stored in cents), which keeps `unit_price * quantity` exact for half units.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass, field

from aiq.sandbox.people import STAFF_FIRST, STAFF_LAST

# Skills decide which services a provider performs.
INJECT, AESTH, LASER, IV, MD = "inject", "aesth", "laser", "iv", "md"

# Category ids are fixed; the last four hold the items that are not in the catalogue.
CATEGORIES: tuple[tuple[int, str], ...] = (
    (1, "Neurotoxins"),
    (2, "Dermal Fillers"),
    (3, "Laser & Light"),
    (4, "Facials & Peels"),
    (5, "Microneedling"),
    (6, "IV Therapy"),
    (7, "Consultations"),
    (8, "Body Contouring"),
    (10, "Skincare"),
    (11, "Sun Protection"),
    (12, "Supplements"),
    (13, "Medical Supplies"),
    (14, "Injectables Inventory"),
    (15, "Memberships"),
    (16, "Packages"),
    (17, "Gift Cards"),
    (18, "Fees & Deposits"),
)
CAT_MEMBERSHIP, CAT_PACKAGE, CAT_EGIFT, CAT_FEES = 15, 16, 17, 18

# (name, category, price $, minutes, skills, min qty, max qty, weight, active)
_SERVICES: tuple[tuple[str, int, int, int, str, int, int, int, bool], ...] = (
    ("Botox (per unit)", 1, 14, 30, "inject md", 20, 64, 30, True),
    ("Dysport (per unit)", 1, 5, 30, "inject md", 50, 150, 10, True),
    ("Xeomin (per unit)", 1, 12, 30, "inject", 20, 50, 4, True),
    ("Jeuveau (per unit)", 1, 11, 30, "inject", 20, 50, 3, True),
    ("Juvederm Ultra XC (syringe)", 2, 750, 45, "inject md", 1, 2, 8, True),
    ("Juvederm Voluma (syringe)", 2, 850, 60, "inject md", 1, 3, 5, True),
    ("Restylane Kysse (syringe)", 2, 725, 45, "inject", 1, 2, 5, True),
    ("RHA 4 (syringe)", 2, 800, 45, "inject md", 1, 2, 3, True),
    ("Sculptra (vial)", 2, 950, 45, "inject md", 1, 2, 3, True),
    ("Kybella (vial)", 2, 600, 30, "inject", 1, 2, 2, True),
    ("Filler Dissolve (Hylenex)", 2, 350, 30, "inject md", 1, 1, 1, True),
    ("IPL Photofacial", 3, 400, 45, "laser aesth", 1, 1, 8, True),
    ("Laser Hair Removal - Small Area", 3, 150, 20, "laser", 1, 1, 10, True),
    ("Laser Hair Removal - Large Area", 3, 375, 45, "laser", 1, 1, 6, True),
    ("Clear + Brilliant", 3, 450, 45, "laser aesth", 1, 1, 5, True),
    ("Moxi Laser", 3, 550, 45, "laser", 1, 1, 4, True),
    ("Fraxel Dual", 3, 1250, 60, "laser md", 1, 1, 2, True),
    ("CO2 Resurfacing", 3, 1800, 90, "md", 1, 1, 2, True),
    ("BBL HERO", 3, 500, 45, "laser", 1, 1, 3, True),
    ("HydraFacial Signature", 4, 199, 45, "aesth", 1, 1, 16, True),
    ("HydraFacial Deluxe", 4, 275, 60, "aesth", 1, 1, 9, True),
    ("Chemical Peel", 4, 150, 30, "aesth", 1, 1, 8, True),
    ("VI Peel", 4, 350, 45, "aesth", 1, 1, 3, True),
    ("Dermaplaning", 4, 95, 30, "aesth", 1, 1, 7, True),
    ("Oxygen Facial", 4, 175, 45, "aesth", 1, 1, 4, True),
    ("Vampire Facial", 4, 550, 60, "aesth md", 1, 1, 2, False),
    ("Microneedling", 5, 350, 60, "aesth", 1, 1, 7, True),
    ("Microneedling with PRP", 5, 650, 75, "aesth md", 1, 1, 3, True),
    ("Morpheus8", 5, 1200, 90, "md laser", 1, 1, 2, True),
    ("SkinPen Microneedling", 5, 300, 60, "aesth", 1, 1, 3, True),
    ("Myers' Cocktail IV", 6, 199, 45, "iv", 1, 1, 8, True),
    ("NAD+ IV", 6, 450, 90, "iv", 1, 1, 3, True),
    ("Hydration IV", 6, 150, 45, "iv", 1, 1, 7, True),
    ("Immunity Boost IV", 6, 225, 45, "iv", 1, 1, 4, True),
    ("B12 Injection", 6, 35, 15, "iv inject", 1, 1, 5, True),
    ("Cosmetic Consultation", 7, 0, 30, "inject aesth laser md", 1, 1, 6, True),
    ("Virtual Consultation", 7, 0, 20, "inject md", 1, 1, 2, True),
    ("Medical Weight Loss Consult", 7, 99, 30, "md iv", 1, 1, 2, True),
    ("Follow-up Visit", 7, 0, 15, "inject md", 1, 1, 3, True),
    ("CoolSculpting (cycle)", 8, 750, 60, "laser", 1, 4, 3, True),
    ("Emsculpt NEO", 8, 850, 30, "laser", 1, 1, 2, True),
)
VIRTUAL_SERVICE = "Virtual Consultation"

# (name, inventory type, category, price $ or None, cost $, active)
_PRODUCTS: tuple[tuple[str, str, int, int | None, int, bool], ...] = (
    ("SkinCeuticals C E Ferulic", "retail", 10, 182, 91, True),
    ("SkinCeuticals Hydrating B5 Gel", "retail", 10, 92, 46, True),
    ("SkinMedica TNS Advanced+ Serum", "retail", 10, 295, 148, True),
    ("Alastin Restorative Skin Complex", "retail", 10, 215, 108, True),
    ("ZO Skin Health Daily Power Defense", "retail", 10, 155, 78, True),
    ("Revision Skincare Nectifirm", "retail", 10, 98, 49, True),
    ("Obagi Nu-Derm Clear", "retail", 10, 95, 47, True),
    ("iS Clinical Active Serum", "retail", 10, 140, 70, True),
    ("HydraFacial Daily Essentials Kit", "retail", 10, 120, 55, True),
    ("Latisse 3 ml", "retail", 10, 160, 95, True),
    ("Alastin Gentle Cleanser", "retail", 10, 42, 21, True),
    ("Sente Dermal Repair Cream", "retail", 10, 150, 75, False),
    ("EltaMD UV Clear SPF 46", "retail", 11, 41, 20, True),
    ("SkinCeuticals Physical Fusion SPF 50", "retail", 11, 40, 19, True),
    ("Colorescience Sunforgettable SPF 50", "retail", 11, 69, 33, True),
    ("ISDIN Eryfotona Actinica", "retail", 11, 60, 29, True),
    ("Nutrafol Women", "retail", 12, 88, 50, True),
    ("Heliocare Daily Capsules", "retail", 12, 35, 17, True),
    ("Collagen Peptides Powder", "retail", 12, 55, 25, True),
    ("Syringes 1 ml (box of 100)", "medical_supply", 13, None, 35, True),
    ("Lidocaine 1% 30 ml", "medical_supply", 13, None, 12, True),
    ("BLT Numbing Cream", "medical_supply", 13, None, 48, True),
    ("Gauze Pads 4x4 (200)", "medical_supply", 13, None, 18, True),
    ("Alcohol Prep Pads (200)", "medical_supply", 13, None, 9, True),
    ("30G Needles (100)", "medical_supply", 13, None, 22, True),
    ("Botox 100U Vial", "service", 14, 1400, 600, True),
    ("Juvederm Ultra XC 1 ml", "service", 14, 750, 300, True),
    ("Sculptra Vial", "service", 14, 950, 420, True),
)

MEMBERSHIPS: tuple[tuple[str, int], ...] = (
    ("VIP Membership (monthly)", 9900),
    ("Glow Club (monthly)", 14900),
)
PACKAGES: tuple[tuple[str, int], ...] = (
    ("HydraFacial Series of 3", 52500),
    ("Laser Hair Removal - 6 Sessions", 90000),
    ("Microneedling Series of 3", 90000),
    ("Botox Bank - 100 Units", 120000),
)

# (city, state, zip, IANA zone, tax rate on retail in 1/1000 of a percent, area code)
_LOCATIONS: tuple[tuple[str, str, str, str, int, str], ...] = (
    ("Austin", "TX", "78701", "America/Chicago", 8250, "512"),
    ("Scottsdale", "AZ", "85251", "America/Phoenix", 8050, "480"),
    ("Miami", "FL", "33131", "America/New_York", 7000, "305"),
    ("Denver", "CO", "80206", "America/Denver", 8810, "303"),
    ("San Diego", "CA", "92101", "America/Los_Angeles", 7750, "619"),
    ("Nashville", "TN", "37203", "America/Chicago", 9250, "615"),
    ("Brooklyn", "NY", "11201", "America/New_York", 8875, "718"),
    ("Seattle", "WA", "98101", "America/Los_Angeles", 10250, "206"),
    ("Honolulu", "HI", "96813", "Pacific/Honolulu", 4712, "808"),
    ("Salt Lake City", "UT", "84101", "America/Denver", 7250, "801"),
    ("Anchorage", "AK", "99501", "America/Anchorage", 0, "907"),
    ("Boston", "MA", "02116", "America/New_York", 6250, "617"),
)

# Appointments a provider of each skill fits in a full day.
DAILY_CAPACITY = {INJECT: 9, AESTH: 7, LASER: 7, IV: 6, MD: 5}


@dataclass(slots=True)
class Service:
    """A bookable service of the catalogue."""

    id: int
    name: str
    category_id: int
    price: int  # cents per unit
    minutes: int
    skills: frozenset[str]
    qty_lo: int
    qty_hi: int
    weight: int
    is_active: bool


@dataclass(slots=True)
class Product:
    """An inventory product: retail, a medical supply or service inventory."""

    id: int
    name: str
    inventory_type: str
    category_id: int
    price: int | None  # cents
    cost: int  # cents
    is_active: bool


@dataclass(slots=True)
class Clinic:
    """One location of the practice."""

    id: int
    name: str
    timezone: str
    city: str
    state: str
    zip: str
    tax_rate: int  # retail tax in 1/1000 of a percent (8250 = 8.25%)
    area_code: str
    size: float  # relative demand
    opened: dt.date
    closed_weekdays: frozenset[int]  # 0 = Monday


@dataclass(slots=True)
class Staff:
    """A staff member; providers carry a skill and a weekly schedule per clinic."""

    id: int
    firstname: str
    lastname: str
    email: str
    phone: str
    role: str
    is_provider: bool
    skill: str | None
    schedule: dict[int, frozenset[int]]  # clinic id -> weekdays worked there
    commission_rate: int  # hundredths of a percent
    goals: tuple[int, int] | None  # procedures per month, sales per month in cents
    active_from: dt.date
    active_until: dt.date | None  # last day worked; None while employed

    @property
    def clinic_ids(self) -> list[int]:
        """The clinics this person works at, in id order."""
        return sorted(self.schedule)


@dataclass(slots=True)
class Catalog:
    """All reference data of one practice, with lookups the generator needs."""

    clinics: list[Clinic]
    staff: list[Staff]
    services: list[Service]
    products: list[Product]
    categories: list[tuple[int, str]] = field(default_factory=lambda: list(CATEGORIES))
    services_by_id: dict[int, Service] = field(default_factory=dict)
    retail: list[Product] = field(default_factory=list)
    owner: Staff | None = None

    def __post_init__(self) -> None:
        self.services_by_id = {s.id: s for s in self.services}
        self.retail = [p for p in self.products if p.inventory_type == "retail" and p.is_active]

    def front_desk(self, clinic_id: int) -> list[Staff]:
        """Front-desk staff of a clinic (they ring up retail-only sales)."""
        return [s for s in self.staff if s.role == "front_desk" and clinic_id in s.schedule]


def build_catalog(
    rng: random.Random,
    account_name: str,
    owner_email: str,
    n_clinics: int,
    history_start: dt.date,
    today: dt.date,
) -> Catalog:
    """Build a practice: `n_clinics` locations in several time zones, staff, the catalogue."""
    domain = owner_email.split("@", 1)[1] if "@" in owner_email else "medspa.example"
    services = [
        Service(101 + i, name, cat, price * 100, minutes, frozenset(skills.split()), lo, hi, w, act)
        for i, (name, cat, price, minutes, skills, lo, hi, w, act) in enumerate(_SERVICES)
    ]
    products = [
        Product(501 + i, name, kind, cat, None if price is None else price * 100, cost * 100, act)
        for i, (name, kind, cat, price, cost, act) in enumerate(_PRODUCTS)
    ]
    clinics = _build_clinics(rng, account_name, n_clinics, history_start, today)
    staff = _build_staff(rng, domain, owner_email, clinics, history_start, today)
    catalog = Catalog(clinics=clinics, staff=staff, services=services, products=products)
    catalog.owner = staff[0]
    return catalog


def _build_clinics(
    rng: random.Random, account_name: str, n: int, start: dt.date, today: dt.date
) -> list[Clinic]:
    first_id = rng.randrange(1, 40) * 10
    span = (today - start).days
    clinics = []
    for i in range(n):
        city, state, zip_code, tz, tax, area = _LOCATIONS[i % len(_LOCATIONS)]
        if i >= len(_LOCATIONS):
            city = f"{city} {i // len(_LOCATIONS) + 1}"
        # The first three locations exist from the start; later ones open as the group grows,
        # each at least half a year before today so that it has a history to report on.
        opened = start
        if i >= 3 and span > 400:
            opened = start + dt.timedelta(days=int((span - 200) * (i - 2) / max(n - 2, 1)))
        closed = {6} if rng.random() < 0.6 else {0, 6}
        clinics.append(
            Clinic(
                id=first_id + i,
                name=f"{account_name} {city}",
                timezone=tz,
                city=city,
                state=state,
                zip=zip_code,
                tax_rate=tax,
                area_code=area,
                size=rng.uniform(0.7, 1.3),
                opened=opened,
                closed_weekdays=frozenset(closed),
            )
        )
    return clinics


def _pick_days(rng: random.Random, open_days: list[int], k: int) -> frozenset[int]:
    return frozenset(rng.sample(open_days, min(k, len(open_days))))


def _build_staff(
    rng: random.Random,
    domain: str,
    owner_email: str,
    clinics: list[Clinic],
    start: dt.date,
    today: dt.date,
) -> list[Staff]:
    next_id = rng.randrange(10, 30)
    used_names: set[tuple[str, str]] = set()
    staff: list[Staff] = []
    span = max((today - start).days, 1)

    def person(
        role: str,
        skill: str | None,
        schedule: dict[int, frozenset[int]],
        area: str,
        active_from: dt.date = start,
        email: str | None = None,
    ) -> Staff:
        nonlocal next_id
        while True:
            first, last = rng.choice(STAFF_FIRST), rng.choice(STAFF_LAST)
            if (first, last) not in used_names:
                used_names.add((first, last))
                break
        is_provider = skill is not None
        commission = 0
        goals = None
        if skill is not None:
            commission = rng.choice((1000, 1500, 2000, 2500, 3000, 3500))
            if rng.random() < 0.8:
                procs = DAILY_CAPACITY[skill] * len(next(iter(schedule.values()))) * 4
                avg_ticket = {INJECT: 650, AESTH: 260, LASER: 420, IV: 220, MD: 900}[skill]
                goals = (procs, int(round(procs * avg_ticket * 0.8, -2)) * 100)
        member = Staff(
            id=next_id,
            firstname=first,
            lastname=last,
            email=email or f"{first.lower()}.{last.lower()}@{domain}",
            phone=f"+1-{area}-555-{rng.randrange(2000, 9999):04d}",
            role=role,
            is_provider=is_provider,
            skill=skill,
            schedule=schedule,
            commission_rate=commission,
            goals=goals,
            active_from=active_from,
            active_until=None,
        )
        next_id += rng.randrange(1, 4)
        staff.append(member)
        return member

    all_open = {c.id: [d for d in range(7) if d not in c.closed_weekdays] for c in clinics}
    person(
        "admin",
        None,
        {c.id: frozenset(all_open[c.id]) for c in clinics},
        clinics[0].area_code,
        email=owner_email,
    )
    # The medical director sees patients two days a week at the first clinic and one at the second.
    md_sched = {clinics[0].id: _pick_days(rng, all_open[clinics[0].id], 2)}
    if len(clinics) > 1:
        # Never two clinics on the same weekday.
        free = [d for d in all_open[clinics[1].id] if d not in md_sched[clinics[0].id]]
        md_sched[clinics[1].id] = _pick_days(rng, free or all_open[clinics[1].id], 1)
    person("medical_director", MD, md_sched, clinics[0].area_code)

    for idx, clinic in enumerate(clinics):
        days = all_open[clinic.id]
        big = clinic.size > 1.0
        lineup = (
            [INJECT, AESTH] + ([INJECT] if big else []) + ([AESTH] if rng.random() < 0.6 else [])
        )
        lineup += [LASER] if rng.random() < 0.8 else []
        lineup += [IV] if rng.random() < 0.5 else []
        for skill in lineup:
            worked = _pick_days(rng, days, rng.choice((4, 4, 5)))
            p = person(
                "provider", skill, {clinic.id: worked}, clinic.area_code, active_from=clinic.opened
            )
            # Some providers also cover a neighbouring clinic on a day or two.
            if skill == INJECT and idx + 1 < len(clinics) and rng.random() < 0.6:
                other = clinics[idx + 1]
                p.schedule[other.id] = _pick_days(rng, all_open[other.id], rng.choice((1, 2)))
                p.schedule[clinic.id] = worked - p.schedule[other.id] or worked
        person(
            "front_desk",
            None,
            {clinic.id: frozenset(days)},
            clinic.area_code,
            active_from=clinic.opened,
        )
        if big:
            person(
                "front_desk",
                None,
                {clinic.id: frozenset(days)},
                clinic.area_code,
                active_from=clinic.opened,
            )
        # Staff turnover: with enough history an aesthetician leaves and a new one is hired.
        if span > 300:
            leaver = next(s for s in staff if s.skill == AESTH and clinic.id in s.schedule)
            left = clinic.opened + dt.timedelta(
                days=int((today - clinic.opened).days * rng.uniform(0.4, 0.7))
            )
            leaver.active_until = left
            person(
                "provider",
                AESTH,
                dict(leaver.schedule),
                clinic.area_code,
                active_from=left + dt.timedelta(days=rng.randrange(7, 30)),
            )
    return staff
