"""Fake people: staff, and patients whose personal data is recognisable by tests.

Patient data must be realistic enough to exercise the PHI firewall for real and recognisable
enough that a test can prove none of it leaked. So: patient emails all end with
`@patient.example`, phones start with `+1-555-01`, notes carry the marker `PHI-NOTE`, and patient
names come from lists that share no word with staff names, clinic names or the catalogue (a
leak scan for "Ophelia Hawthorne" must not trip over a product name).
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass

PHI_MARKERS: tuple[str, ...] = ("@patient.example", "PHI-NOTE", "+1-555-01")
"""Substrings found in every patient email, note and phone: scan outputs for them."""

PATIENT_FIRST = (
    "Abigail",
    "Adeline",
    "Annabelle",
    "Arabella",
    "Beatrix",
    "Bethany",
    "Brielle",
    "Camila",
    "Cassandra",
    "Celeste",
    "Charlotte",
    "Clarissa",
    "Daniela",
    "Delilah",
    "Eleanor",
    "Elodie",
    "Emmeline",
    "Evangeline",
    "Felicity",
    "Gabriella",
    "Genevieve",
    "Giselle",
    "Harriet",
    "Imogen",
    "Isabella",
    "Jacqueline",
    "Josephine",
    "Juliette",
    "Katarina",
    "Leonora",
    "Lillian",
    "Lucinda",
    "Marisol",
    "Mirabel",
    "Natalia",
    "Octavia",
    "Ophelia",
    "Penelope",
    "Priscilla",
    "Rosalind",
    "Sabrina",
    "Serafina",
    "Tabitha",
    "Valentina",
    "Veronica",
    "Vivienne",
    "Winifred",
    "Yolanda",
    "Anastasia",
    "Bernadette",
    "Cordelia",
    "Dominique",
    "Esmeralda",
    "Francesca",
    "Henrietta",
    "Bartholomew",
    "Cornelius",
    "Desmond",
    "Leopold",
    "Maximilian",
    "Percival",
    "Thaddeus",
    "Augustin",
    "Barnaby",
    "Lysander",
)
PATIENT_LAST = (
    "Abernathy",
    "Ashworth",
    "Blackwood",
    "Castellano",
    "Delacroix",
    "Ellingsworth",
    "Fairbanks",
    "Galloway",
    "Hawthorne",
    "Holloway",
    "Kensington",
    "Lockhart",
    "Marchetti",
    "Montclair",
    "Northcott",
    "Okonkwo",
    "Pemberton",
    "Quintero",
    "Ravenscroft",
    "Sandoval",
    "Thistlewood",
    "Underhill",
    "Valdivia",
    "Whitlock",
    "Yarborough",
    "Zamorano",
    "Fairweather",
    "Beaumont",
    "Calloway",
    "Darrowby",
    "Vanderbilt",
    "Wetherby",
    "Bellamy",
    "Carrington",
    "Dunmore",
    "Ellsworth",
    "Featherstone",
    "Gainsborough",
    "Harrowgate",
    "Ingersoll",
    "Jespersen",
    "Kingsley",
    "Lindqvist",
    "Merriweather",
    "Nightingale",
    "Oyelaran",
    "Prendergast",
    "Rutherford",
    "Stanhope",
    "Tremaine",
    "Umberfield",
    "Villanueva",
    "Winterbourne",
)
STREETS = (
    "Juniper Lane",
    "Larkspur Court",
    "Sycamore Drive",
    "Bluebonnet Way",
    "Primrose Avenue",
    "Wisteria Terrace",
    "Chestnut Row",
    "Briarwood Circle",
    "Foxglove Road",
    "Heatherstone Place",
)
STAFF_FIRST = (
    "Megan",
    "Jessica",
    "Lauren",
    "Ashley",
    "Brittany",
    "Kayla",
    "Nicole",
    "Amanda",
    "Tiffany",
    "Danielle",
    "Kristen",
    "Stephanie",
    "Heather",
    "Melissa",
    "Courtney",
    "Alyssa",
    "Jasmine",
    "Rachel",
    "Erin",
    "Kelsey",
    "Marcus",
    "Tyler",
    "Jordan",
    "Derek",
    "Ryan",
    "Priya",
    "Mei",
)
STAFF_LAST = (
    "Nguyen",
    "Patel",
    "Kim",
    "Garcia",
    "Johnson",
    "Rivera",
    "Chen",
    "Brooks",
    "Foster",
    "Reyes",
    "Sullivan",
    "Ortiz",
    "Murphy",
    "Bennett",
    "Hughes",
    "Coleman",
    "Price",
    "Ward",
    "Perry",
    "Long",
    "Powell",
    "Jenkins",
    "Russell",
    "Griffin",
    "Hayes",
    "Myers",
    "Ford",
)

_NOTE_TEMPLATES = (
    "PHI-NOTE {first} {last} (DOB {dob}) reports mild bruising after last visit; follow up.",
    "PHI-NOTE Patient {first} {last} allergic to lidocaine; topical numbing only. Call {phone}.",
    "PHI-NOTE {first} prefers afternoon slots; history of cold sores, prescribed valacyclovir.",
    "PHI-NOTE {first} {last} is pregnant as of this visit; defer toxins and fillers.",
    "PHI-NOTE Reviewed medical history with {first} {last}: on isotretinoin until spring.",
    "PHI-NOTE {first} {last} asked that we email results to {email} only.",
    "PHI-NOTE Consent signed by {first} {last}; photos taken, stored in chart.",
    "PHI-NOTE {first} mentioned anxiety about needles; offered stress ball and numbing cream.",
)
_INVOICE_NOTE_TEMPLATES = (
    "PHI-NOTE Card on file for {first} {last} declined once, second attempt approved.",
    "PHI-NOTE {first} {last} bought gift for a friend; mail receipt to {address}.",
    "PHI-NOTE Price match promised to {first} {last} by phone ({phone}).",
    "PHI-NOTE {first} {last} (DOB {dob}) used HSA card; itemised receipt requested.",
    "PHI-NOTE Payment plan discussed with {first} {last}; see chart.",
)


@dataclass(frozen=True, slots=True)
class Patient:
    """A fake patient. Everything here is personal data that aiq must never keep."""

    id: int
    firstname: str
    lastname: str
    email: str
    phone: str
    date_of_birth: str
    address: str

    def as_dict(self) -> dict[str, object]:
        """The `patient` object of the wire format."""
        return {
            "id": self.id,
            "firstname": self.firstname,
            "lastname": self.lastname,
            "email": self.email,
            "phone": self.phone,
            "date_of_birth": self.date_of_birth,
            "address": self.address,
        }


def make_patient(
    rng: random.Random, patient_id: int, today: dt.date, city: str, state: str, zip_code: str
) -> Patient:
    """A new fake patient living near a clinic."""
    first = rng.choice(PATIENT_FIRST)
    last = rng.choice(PATIENT_LAST)
    # Med spa patients skew 25-55; the range keeps everyone an adult.
    age_days = int(rng.triangular(21, 72, 38) * 365.25)
    dob = today - dt.timedelta(days=age_days)
    return Patient(
        id=patient_id,
        firstname=first,
        lastname=last,
        email=f"{first.lower()}.{last.lower()}{patient_id % 997}@patient.example",
        phone=f"+1-555-01{rng.randrange(100):02d}-{rng.randrange(10000):04d}",
        date_of_birth=dob.isoformat(),
        address=f"{rng.randrange(10, 9990)} {rng.choice(STREETS)}, {city}, {state} {zip_code}",
    )


def appointment_note(patient: Patient, seed: int) -> str:
    """A clinical-looking free-text note about a patient (deterministic in `seed`)."""
    return _NOTE_TEMPLATES[seed % len(_NOTE_TEMPLATES)].format(
        first=patient.firstname,
        last=patient.lastname,
        dob=patient.date_of_birth,
        phone=patient.phone,
        email=patient.email,
    )


def invoice_note(patient: Patient, seed: int) -> str:
    """A front-desk note on an invoice that names the patient (deterministic in `seed`)."""
    return _INVOICE_NOTE_TEMPLATES[seed % len(_INVOICE_NOTE_TEMPLATES)].format(
        first=patient.firstname,
        last=patient.lastname,
        dob=patient.date_of_birth,
        phone=patient.phone,
        address=patient.address,
    )
