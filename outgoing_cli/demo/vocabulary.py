"""Reference data the demo population is drawn from: sectors, products, places, phrases.

HS codes are real 6-digit subheadings of the Harmonized System; ATECO codes are the
Italian activity classification; partita IVA office codes are the ISTAT province codes.
Texts are composed from these phrases so that matching's TF-IDF has real overlaps to find
(the products a Lombard firm offers are the ones some partners look for).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Sector:
    word_it: str
    ateco: str
    products: tuple[tuple[str, str], ...]
    """(product name, HS code)"""
    capabilities: tuple[str, ...]
    customers: tuple[str, ...]
    qualities: tuple[str, ...]
    partner_channels: tuple[str, ...]
    partner_needs: tuple[str, ...]


SECTORS: dict[str, Sector] = {
    "arredo_design": Sector(
        "Arredamenti",
        "31.09",
        (
            ("upholstered sofas", "940161"),
            ("wooden office furniture", "940330"),
            ("kitchen furniture", "940340"),
            ("design lamps and lighting fittings", "940540"),
            ("mattresses", "940429"),
            ("glass vases and tableware", "701399"),
        ),
        ("Design and manufacture of", "Made-to-measure production of", "Contract furnishing with"),
        ("hotels and restaurants", "architects and interior designers", "furniture retailers"),
        (
            "Solid wood and Italian leather, made in Brianza.",
            "FSC-certified materials, designer collaborations.",
            "Full contract service from drawings to installation.",
        ),
        (
            "Showrooms and contract division serving",
            "Interior design studio and retail chain serving",
            "Import and distribution of furniture for",
        ),
        ("with design quality for premium residential projects", "for hotel and office fit-outs", "for our showrooms"),
    ),
    "chimica": Sector(
        "Chimica",
        "20.59",
        (
            ("industrial paints and varnishes", "320890"),
            ("adhesives", "350691"),
            ("surfactants", "340211"),
            ("plasticisers", "381220"),
            ("titanium dioxide pigments", "320611"),
            ("polyethylene compounds", "390120"),
        ),
        ("Formulation and production of", "Specialty chemicals: we produce", "Custom synthesis and toll manufacturing of"),
        ("coatings manufacturers", "the packaging industry", "textile finishers"),
        ("REACH registered, ISO 14001 plant.", "Technical service laboratory for customer trials.", "Low-VOC water-based formulations."),
        ("Chemical distributor with warehouses serving", "Trading house and blending plant serving", "Importer of specialty chemicals for"),
        ("with REACH documentation and technical support", "in bulk and drums", "for local formulation"),
    ),
    "cosmetica": Sector(
        "Cosmetici",
        "20.42",
        (
            ("perfumes", "330300"),
            ("make-up preparations", "330499"),
            ("lipsticks", "330410"),
            ("shampoos", "330510"),
            ("hair lacquers", "330530"),
            ("skin care creams", "330499"),
        ),
        ("Private label and branded", "Research, formulation and filling of", "Contract manufacturing of"),
        ("beauty retailers", "professional hair salons", "spa and wellness centres"),
        ("Dermatologically tested, vegan formulas.", "Made in Italy, ISO 22716 GMP.", "Natural ingredients and recyclable packaging."),
        ("Beauty retail chain and e-commerce serving", "Distributor to salons and pharmacies serving", "Importer of cosmetics for"),
        ("made in Italy, with natural ingredients", "for our private label range", "for salons and spas"),
    ),
    "edilizia": Sector(
        "Costruzioni",
        "23.31",
        (
            ("porcelain floor tiles", "690723"),
            ("marble slabs", "680221"),
            ("aluminium windows and doors", "761010"),
            ("steel structures", "730890"),
            ("mineral wool insulation panels", "680610"),
            ("portland cement", "252329"),
        ),
        ("Production and installation of", "Engineering and supply of", "Manufacturer of"),
        ("general contractors", "residential developers", "infrastructure projects"),
        (
            "CE marked, energy-efficient building systems.",
            "In-house engineering and site supervision.",
            "Sustainable materials with EPD declarations.",
        ),
        ("Building materials distributor serving", "General contractor and developer serving", "Importer of building products for"),
        ("for energy-efficient residential buildings", "for commercial construction projects", "with technical assistance on site"),
    ),
    "farmaceutico_medicale": Sector(
        "Farmaceutici",
        "21.20",
        (
            ("generic medicaments", "300490"),
            ("surgical instruments", "901890"),
            ("syringes", "901831"),
            ("orthopaedic implants", "902190"),
            ("diagnostic reagents", "382200"),
            ("dental instruments", "901849"),
        ),
        ("Development and production of", "GMP manufacturing of", "Design and manufacture of"),
        ("hospitals", "clinical laboratories", "pharmacy chains"),
        ("EU GMP and ISO 13485 certified.", "CE marked medical devices, MDR compliant.", "Regulatory dossiers for registration abroad."),
        (
            "Medical distributor with regulatory team serving",
            "Hospital supplier and tender specialist serving",
            "Importer of pharmaceuticals for",
        ),
        ("with CE marking and registration support", "for public hospital tenders", "for private clinics and laboratories"),
    ),
    "meccanica_metallurgia": Sector(
        "Meccanica",
        "28.41",
        (
            ("CNC lathes", "845811"),
            ("machining centres", "845710"),
            ("centrifugal pumps", "841370"),
            ("industrial valves", "848180"),
            ("ball bearings", "848210"),
            ("packaging machines", "842240"),
            ("industrial robots", "847950"),
            ("seamless steel pipes", "730439"),
        ),
        ("Precision engineering: we build", "Design and manufacture of", "Machining and assembly of"),
        ("automotive suppliers", "the oil and gas industry", "food processing plants"),
        (
            "ISO 9001 certified, in-house R&D.",
            "Industry 4.0 ready machines with remote service.",
            "Custom solutions and after-sales service.",
        ),
        (
            "Machine tool dealer with service engineers serving",
            "Industrial distributor serving",
            "Engineering company and importer serving",
        ),
        ("with installation, training and spare parts", "for automotive and aerospace plants", "with local after-sales service"),
    ),
    "prodotti_alimentari": Sector(
        "Alimentari",
        "10.73",
        (
            ("extra virgin olive oil", "150910"),
            ("dried pasta", "190219"),
            ("Grana Padano cheese", "040690"),
            ("wine", "220421"),
            ("roasted coffee", "090121"),
            ("cured ham", "021019"),
            ("chocolate", "180690"),
            ("risotto rice", "100630"),
        ),
        ("Traditional production of", "Family business producing", "Food company making"),
        ("delicatessens", "restaurants and hotels", "supermarket chains"),
        ("PDO and organic certified.", "BRC and IFS certified plant.", "Recipes from Lombardy since 1950."),
        ("Food importer and distributor serving", "Gourmet retail chain serving", "Food service wholesaler serving"),
        ("authentic Italian, with PDO certification", "for our gourmet and HoReCa channel", "organic and private label"),
    ),
    "sistema_moda": Sector(
        "Moda",
        "14.13",
        (
            ("silk fabrics", "500720"),
            ("men's suits", "620311"),
            ("leather handbags", "420221"),
            ("leather shoes", "640399"),
            ("wool knitwear", "611011"),
            ("silk ties", "621510"),
        ),
        ("Design and production of", "Como silk mill weaving", "Fashion house manufacturing"),
        ("fashion boutiques", "department stores", "luxury brands"),
        ("Made in Italy, traceable supply chain.", "Sustainable fibres and small runs.", "Seasonal collections and private label."),
        ("Fashion retailer and showroom serving", "Multi-brand distributor serving", "Department store buyer serving"),
        ("made in Italy for our boutiques", "for the premium segment", "in small runs for private label"),
    ),
}

PROVINCES: dict[str, tuple[str, tuple[tuple[str, str], ...]]] = {
    "BG": ("016", (("Bergamo", "24121"), ("Treviglio", "24047"), ("Dalmine", "24044"))),
    "BS": ("017", (("Brescia", "25121"), ("Lumezzane", "25065"), ("Desenzano del Garda", "25015"))),
    "CO": ("013", (("Como", "22100"), ("Cantù", "22063"), ("Erba", "22036"))),
    "CR": ("019", (("Cremona", "26100"), ("Crema", "26013"))),
    "LC": ("097", (("Lecco", "23900"), ("Merate", "23807"))),
    "LO": ("098", (("Lodi", "26900"), ("Codogno", "26845"))),
    "MN": ("020", (("Mantova", "46100"), ("Castiglione delle Stiviere", "46043"))),
    "MI": ("015", (("Milano", "20121"), ("Sesto San Giovanni", "20099"), ("Legnano", "20025"), ("Rho", "20017"))),
    "MB": ("108", (("Monza", "20900"), ("Lissone", "20851"), ("Seregno", "20831"))),
    "PV": ("018", (("Pavia", "27100"), ("Vigevano", "27029"))),
    "SO": ("014", (("Sondrio", "23100"),)),
    "VA": ("012", (("Varese", "21100"), ("Busto Arsizio", "21052"), ("Gallarate", "21013"))),
}
"""Lombardy's twelve provinces: ISTAT code (the partita IVA's office digits) and some towns."""

STREETS = (
    "Via Roma",
    "Via Garibaldi",
    "Via Mazzini",
    "Viale Europa",
    "Via dell'Industria",
    "Via Cavour",
    "Via Dante",
    "Via Manzoni",
    "Corso Italia",
)
LEGAL_FORMS = ("S.r.l.", "S.r.l.", "S.p.A.", "S.n.c.", "S.r.l.s.")


@dataclass(frozen=True)
class Market:
    faker_locales: tuple[str, ...]
    cities: tuple[tuple[str, str, float], ...]
    """(city, IANA zone, weight): a few partners sit outside the market's own zone."""
    regions: tuple[str, ...]
    languages: tuple[str, ...]
    company_forms: tuple[str, ...]


MARKETS: dict[str, Market] = {
    "IN": Market(
        ("en_IN",),
        (
            ("Mumbai", "Asia/Kolkata", 3),
            ("New Delhi", "Asia/Kolkata", 3),
            ("Bengaluru", "Asia/Kolkata", 2),
            ("Chennai", "Asia/Kolkata", 1),
            ("Pune", "Asia/Kolkata", 1),
            ("Ahmedabad", "Asia/Kolkata", 1),
        ),
        ("Maharashtra and Gujarat", "North India", "South India", "the whole subcontinent"),
        ("en", "hi"),
        ("Pvt Ltd", "Industries Pvt Ltd", "Trading Co.", "Enterprises"),
    ),
    "RU": Market(
        ("ru_RU",),
        (
            ("Moscow", "Europe/Moscow", 4),
            ("Saint Petersburg", "Europe/Moscow", 2),
            ("Kazan", "Europe/Moscow", 1),
            ("Yekaterinburg", "Asia/Yekaterinburg", 1),
            ("Novosibirsk", "Asia/Novosibirsk", 0.5),
        ),
        ("the Moscow region", "the Urals and Siberia", "north-western Russia", "the Eurasian Economic Union"),
        ("ru", "en"),
        ("OOO", "AO", "OOO TD"),
    ),
    "GB": Market(
        ("en_GB",),
        (
            ("London", "Europe/London", 4),
            ("Manchester", "Europe/London", 2),
            ("Birmingham", "Europe/London", 1),
            ("Leeds", "Europe/London", 1),
            ("Glasgow", "Europe/London", 1),
            ("Bristol", "Europe/London", 1),
        ),
        ("the UK and Ireland", "England and Wales", "Scotland", "London and the South East"),
        ("en",),
        ("Ltd", "Ltd", "plc", "& Co. Ltd"),
    ),
    "CA": Market(
        ("en_CA", "fr_CA"),
        (
            ("Toronto", "America/Toronto", 4),
            ("Montréal", "America/Toronto", 2),
            ("Ottawa", "America/Toronto", 1),
            ("Vancouver", "America/Vancouver", 1),
            ("Calgary", "America/Edmonton", 0.5),
        ),
        ("Ontario and Quebec", "Western Canada", "the whole of Canada", "Canada and the US Midwest"),
        ("en", "fr"),
        ("Inc.", "Ltd.", "Corp.", "Inc."),
    ),
    "CN": Market(
        ("zh_CN",),
        (
            ("Shanghai", "Asia/Shanghai", 3),
            ("Beijing", "Asia/Shanghai", 2),
            ("Shenzhen", "Asia/Shanghai", 2),
            ("Guangzhou", "Asia/Shanghai", 1),
            ("Hangzhou", "Asia/Shanghai", 1),
            ("Ningbo", "Asia/Shanghai", 1),
        ),
        ("the Yangtze River Delta", "South China", "Beijing and Tianjin", "tier-one cities nationwide"),
        ("zh", "en"),
        ("Trading Co., Ltd.", "Import & Export Co., Ltd.", "Industrial Co., Ltd."),
    ),
}

CHINESE_BRANDS = (
    "Hengda",
    "Huaxin",
    "Jinlong",
    "Tianhe",
    "Xinyuan",
    "Zhongtai",
    "Haitian",
    "Meida",
    "Ruifeng",
    "Changjiang",
    "Dongfang",
    "Yongxin",
    "Guanghua",
    "Hongxing",
    "Baosheng",
    "Jiahe",
    "Lianfa",
    "Shunda",
    "Wanli",
    "Zhenghe",
)

CYRILLIC_TO_LATIN = dict(
    zip(
        "абвгдеёжзийклмнопрстуфхцчшщъыьэюя",
        [
            "a",
            "b",
            "v",
            "g",
            "d",
            "e",
            "e",
            "zh",
            "z",
            "i",
            "y",
            "k",
            "l",
            "m",
            "n",
            "o",
            "p",
            "r",
            "s",
            "t",
            "u",
            "f",
            "kh",
            "ts",
            "ch",
            "sh",
            "shch",
            "",
            "y",
            "",
            "e",
            "yu",
            "ya",
        ],
        strict=True,
    )
)


def transliterate(text: str) -> str:
    """Russian to Latin letters, so a company name has a form registration can normalise."""
    out = []
    for char in text:
        latin = CYRILLIC_TO_LATIN.get(char.lower())
        out.append(char if latin is None else (latin.capitalize() if char.isupper() else latin))
    return "".join(out)
