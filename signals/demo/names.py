"""Fictional names for the demo organisation: people, companies and their domains.

Companies are the fictional ones of Microsoft's own samples, plus combinations
of a made-up stem and a trade word for the larger sizes. Every name here is
invented; any likeness to a real person is a coincidence of common names.
"""

from __future__ import annotations

import re

FIRST_NAMES: tuple[str, ...] = (
    "Aaron", "Abigail", "Adrian", "Aisha", "Alan", "Alba", "Alex", "Alice", "Amara", "Amir",
    "Ana", "Andre", "Andrea", "Angela", "Anil", "Anita", "Anton", "Arjun", "Astrid", "Ava",
    "Beatriz", "Ben", "Bianca", "Boris", "Brenda", "Bruno", "Camila", "Carl", "Carla", "Carmen",
    "Cecilia", "Chen", "Chloe", "Chris", "Clara", "Colin", "Dalia", "Damien", "Dan", "Daria",
    "David", "Deepa", "Derek", "Diana", "Diego", "Dmitri", "Elena", "Eli", "Elif", "Emma",
    "Enzo", "Erik", "Esther", "Ethan", "Eva", "Fatima", "Felix", "Fiona", "Florian", "Frida",
    "Gabriel", "Gemma", "George", "Gina", "Grace", "Greta", "Hana", "Hannah", "Harold", "Hassan",
    "Helen", "Hiro", "Ian", "Ida", "Igor", "Ines", "Irene", "Isaac", "Ivan", "Jack",
    "Jade", "Jamal", "James", "Jana", "Javier", "Jenna", "Jesse", "Joan", "Jonas", "Jorge",
    "Julia", "Julian", "June", "Kai", "Karen", "Karim", "Kate", "Kenji", "Kevin", "Kira",
    "Lara", "Lars", "Laura", "Leah", "Leo", "Lena", "Liam", "Lina", "Lucas", "Lucia",
    "Luis", "Maya", "Mara", "Marco", "Maria", "Mark", "Marta", "Mateo", "Mei", "Mia",
    "Milan", "Mina", "Nadia", "Nathan", "Neha", "Nico", "Nina", "Noah", "Nora", "Olga",
    "Oliver", "Omar", "Oscar", "Paula", "Pedro", "Peter", "Petra", "Quinn", "Rachel", "Rafael",
    "Rana", "Rosa", "Ruth", "Sara", "Sean", "Selin", "Simon", "Sofia", "Sonia", "Stefan",
    "Sven", "Tara", "Teresa", "Theo", "Tom", "Uma", "Valeria", "Victor", "Vera", "Wei",
    "Will", "Xavier", "Yara", "Yusuf", "Zara", "Zoe",
)  # fmt: skip

LAST_NAMES: tuple[str, ...] = (
    "Abbott", "Acosta", "Adler", "Alvarez", "Andersen", "Arnold", "Bauer", "Becker", "Bishop",
    "Blake", "Bower", "Brandt", "Bruno", "Burke", "Caldwell", "Carver", "Castro", "Chandra",
    "Clarke", "Coleman", "Conti", "Cruz", "Dahl", "Davies", "Delgado", "Diaz", "Dixon", "Doyle",
    "Duarte", "Eklund", "Ellis", "Engel", "Evans", "Farrell", "Fischer", "Fleming", "Flores",
    "Foster", "Frey", "Fuchs", "Garcia", "Gibson", "Gomez", "Graham", "Gray", "Gupta", "Hale",
    "Hansen", "Harper", "Hayes", "Herrera", "Hoffman", "Holm", "Howard", "Hughes", "Ibrahim",
    "Iyer", "Jansen", "Jensen", "Jimenez", "Kaur", "Keller", "Khan", "Kim", "Klein", "Koch",
    "Kowalski", "Kramer", "Lambert", "Lang", "Larsen", "Lee", "Lindgren", "Lopez", "Lund",
    "Maddox", "Malik", "Marino", "Martens", "Medina", "Mendes", "Meyer", "Moreau", "Morris",
    "Nakamura", "Navarro", "Nguyen", "Nilsen", "Novak", "O'Brien", "Okafor", "Olsen", "Ortega",
    "Park", "Patel", "Pereira", "Petrov", "Pham", "Quinn", "Ramos", "Reyes", "Richter", "Rivera",
    "Romano", "Rossi", "Russo", "Saito", "Santos", "Schmidt", "Schulz", "Serrano", "Shah",
    "Silva", "Singh", "Sousa", "Stein", "Sullivan", "Svensson", "Takahashi", "Torres", "Ueda",
    "Varga", "Vega", "Vogel", "Wagner", "Walsh", "Weber", "Wolf", "Yamada", "Young", "Zimmer",
)  # fmt: skip

# (company name, domain): fictional companies of Microsoft's samples and documentation.
SAMPLE_COMPANIES: tuple[tuple[str, str], ...] = (
    ("Fourth Coffee", "fourthcoffee.com"),
    ("Fabrikam", "fabrikam.com"),
    ("Northwind Traders", "northwindtraders.com"),
    ("Tailspin Toys", "tailspintoys.com"),
    ("Wide World Importers", "wideworldimporters.com"),
    ("Alpine Ski House", "alpineskihouse.com"),
    ("Adventure Works", "adventure-works.com"),
    ("Litware", "litwareinc.com"),
    ("Proseware", "proseware.com"),
    ("Woodgrove Bank", "woodgrovebank.com"),
    ("Coho Winery", "cohowinery.com"),
    ("Lamna Healthcare", "lamnahealthcare.com"),
    ("Margie's Travel", "margiestravel.com"),
    ("Trey Research", "treyresearch.net"),
    ("Wingtip Toys", "wingtiptoys.com"),
    ("Humongous Insurance", "humongousinsurance.com"),
    ("Blue Yonder Airlines", "blueyonderairlines.com"),
    ("City Power & Light", "cpandl.com"),
    ("Graphic Design Institute", "graphicdesigninstitute.com"),
    ("School of Fine Art", "fineartschool.net"),
    ("Lucerne Publishing", "lucernepublishing.com"),
    ("VanArsdel", "vanarsdelltd.com"),
    ("Relecloud", "relecloud.com"),
    ("Bellows College", "bellowscollege.com"),
    ("Best For You Organics", "bestforyouorganics.com"),
    ("Consolidated Messenger", "consolidatedmessenger.com"),
    ("First Up Consultants", "firstupconsultants.com"),
    ("Southridge Video", "southridgevideo.com"),
    ("The Phone Company", "thephone-company.com"),
    ("Woodgrove Pharmacy", "woodgrovepharmacy.com"),
    ("Northwind Electric Cars", "northwindelectriccars.com"),
    ("Datum Corporation", "adatum.com"),
)

# Stems and trade words for generated companies ("Harborline Roasters").
COMPANY_STEMS: tuple[str, ...] = (
    "Amber", "Anchor", "Arbor", "Aster", "Beacon", "Birch", "Bluebell", "Bramble", "Bright",
    "Brook", "Canyon", "Cedar", "Cinder", "Clover", "Cobalt", "Copper", "Coral", "Crescent",
    "Dawn", "Delta", "Ember", "Evergreen", "Falcon", "Fern", "Fjord", "Flint", "Foxglove",
    "Garnet", "Glacier", "Golden", "Granite", "Harbor", "Hazel", "Heron", "Highland", "Hollow",
    "Indigo", "Iris", "Ivory", "Juniper", "Kestrel", "Lantern", "Larch", "Linden", "Lotus",
    "Maple", "Meadow", "Mesa", "Millstone", "Mistral", "Moss", "Nimbus", "Oak", "Onyx",
    "Orchard", "Osprey", "Pebble", "Pine", "Prairie", "Quarry", "Quill", "Raven", "Redwood",
    "Ridge", "River", "Rowan", "Saffron", "Sage", "Sequoia", "Silver", "Slate", "Sparrow",
    "Spruce", "Starling", "Stone", "Summit", "Sunrise", "Tamarack", "Thistle", "Timber",
    "Topaz", "Tulip", "Umber", "Valley", "Velvet", "Verdant", "Willow", "Wren", "Zephyr",
)  # fmt: skip

COMPANY_TRADES: tuple[str, ...] = (
    "Roasters", "Cafe", "Bakery", "Foods", "Hotels", "Markets", "Logistics", "Retail",
    "Kitchens", "Catering", "Grocers", "Bistro", "Espresso Bar", "Tea House", "Diner",
    "Outfitters", "Hospitality", "Distribution", "Supply", "Trading", "Partners", "Group",
    "Consulting", "Health", "Dental", "Clinic", "Fitness", "Books", "Studios", "Labs",
)  # fmt: skip

JOB_TITLES_EXTERNAL: tuple[str, ...] = (
    "Owner", "Co-founder", "General Manager", "Operations Manager", "Purchasing Manager",
    "Procurement Lead", "Store Manager", "Head of Facilities", "Office Manager", "CFO",
    "Finance Director", "IT Manager", "Head of Operations", "Category Buyer", "Buyer",
    "Regional Manager", "Director of Hospitality", "Executive Chef", "Account Manager",
    "Marketing Manager", "Project Manager", "Consultant",
)  # fmt: skip

# Topics of CRM leads; the story's lead has its own.
LEAD_TOPICS: tuple[str, ...] = (
    "Espresso machines for three new branches",
    "Replace the office coffee makers",
    "Service contract renewal",
    "Trade show follow-up",
    "Asked for a quote on bean-to-cup machines",
    "Interested in the rental plan",
    "Downloaded the cold brew guide",
    "Webinar attendee - wants a demo",
    "Referral from an existing customer",
    "Budget approved for next quarter",
    "Comparing us with a competitor",
    "Grinder upgrade",
    "Water filtration add-on",
    "Hotel chain pilot",
    "Barista training package",
)  # fmt: skip

PERSONAL_DOMAINS: tuple[str, ...] = ("outlook.com", "gmail.com", "hotmail.com", "icloud.com")

_NOT_LETTERS = re.compile(r"[^a-z0-9]+")


def slug(text: str) -> str:
    """Lower-case letters and digits only: "O'Brien" -> "obrien"."""
    return _NOT_LETTERS.sub("", text.lower())


def domain_for(company: str) -> str:
    """A made-up domain for a generated company name (.example is reserved, RFC 2606)."""
    return slug(company) + ".example"
