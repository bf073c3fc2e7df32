"""The tables behind the seeded benchmark data: places, devices, pages, referrers, campaigns, events.

Plain data, ordered most common first where ``benchmarks.seed_events`` picks by a Zipf-like rank.
Values are spelled as the gateway stores them (GeoLite2 names and ISO 3166-2 codes without the
country prefix, ``gateway.useragent.parse``'s browser and OS names, "mobile" not "smartphone", ``de-DE``
language tags, lower-cased campaign values), so filters and reports see what production would.
Weights are relative; the visitor mix is a German car-parts shop with a Chinese and a French market.
"""

from __future__ import annotations

import random

HOST = "parts.example"
SITE_TIMEZONE = "Europe/Berlin"

# Site-local hour 0..23: a shop browsed by day and in the evening (DIY after work), little at night.
DIURNAL = (0.22, 0.13, 0.08, 0.06, 0.06, 0.1, 0.25, 0.5, 0.75, 0.9, 0.97, 1.0,
           0.95, 0.93, 0.93, 0.92, 0.92, 0.95, 1.02, 1.12, 1.18, 1.05, 0.72, 0.42)
WEEKLY = (1.06, 1.02, 1.0, 0.98, 0.9, 0.82, 0.96)  # Monday..Sunday

# (country, hours its visitors' day is shifted against Berlin's (China: 7 hours earlier), language,
# share of visitors, cities). A city is (subdivision code, subdivision name, city, weight).
City = tuple[str, str, str, float]
Country = tuple[str, int, str, float, tuple[City, ...]]
COUNTRIES: tuple[Country, ...] = (
    ("DE", 0, "de-DE", 34.0, (
        ("BE", "Berlin", "Berlin", 4.5), ("HH", "Hamburg", "Hamburg", 2.5),
        ("BY", "Bavaria", "Munich", 2.2), ("BY", "Bavaria", "Nuremberg", 0.8),
        ("BY", "Bavaria", "Augsburg", 0.4), ("BY", "Bavaria", "Regensburg", 0.2),
        ("BY", "Bavaria", "Würzburg", 0.2), ("BY", "Bavaria", "Ingolstadt", 0.2),
        ("NW", "North Rhine-Westphalia", "Cologne", 1.5), ("NW", "North Rhine-Westphalia", "Düsseldorf", 0.9),
        ("NW", "North Rhine-Westphalia", "Dortmund", 0.9), ("NW", "North Rhine-Westphalia", "Essen", 0.8),
        ("NW", "North Rhine-Westphalia", "Duisburg", 0.7), ("NW", "North Rhine-Westphalia", "Bochum", 0.5),
        ("NW", "North Rhine-Westphalia", "Wuppertal", 0.5),
        ("NW", "North Rhine-Westphalia", "Bielefeld", 0.5),
        ("NW", "North Rhine-Westphalia", "Bonn", 0.5), ("NW", "North Rhine-Westphalia", "Münster", 0.45),
        ("NW", "North Rhine-Westphalia", "Gelsenkirchen", 0.4),
        ("NW", "North Rhine-Westphalia", "Aachen", 0.4),
        ("HE", "Hesse", "Frankfurt am Main", 1.1), ("HE", "Hesse", "Wiesbaden", 0.4),
        ("HE", "Hesse", "Kassel", 0.3), ("HE", "Hesse", "Darmstadt", 0.25),
        ("BW", "Baden-Württemberg", "Stuttgart", 1.0), ("BW", "Baden-Württemberg", "Mannheim", 0.45),
        ("BW", "Baden-Württemberg", "Karlsruhe", 0.45), ("BW", "Baden-Württemberg", "Freiburg", 0.35),
        ("BW", "Baden-Württemberg", "Heidelberg", 0.25), ("BW", "Baden-Württemberg", "Ulm", 0.2),
        ("NI", "Lower Saxony", "Hanover", 0.8), ("NI", "Lower Saxony", "Brunswick", 0.35),
        ("NI", "Lower Saxony", "Oldenburg", 0.25), ("NI", "Lower Saxony", "Osnabrück", 0.25),
        ("NI", "Lower Saxony", "Wolfsburg", 0.2), ("SN", "Saxony", "Leipzig", 0.9),
        ("SN", "Saxony", "Dresden", 0.8), ("SN", "Saxony", "Chemnitz", 0.35), ("HB", "Bremen", "Bremen", 0.8),
        ("SH", "Schleswig-Holstein", "Kiel", 0.4), ("SH", "Schleswig-Holstein", "Lübeck", 0.3),
        ("RP", "Rheinland-Pfalz", "Mainz", 0.35), ("RP", "Rheinland-Pfalz", "Ludwigshafen", 0.25),
        ("RP", "Rheinland-Pfalz", "Koblenz", 0.2), ("TH", "Thuringia", "Erfurt", 0.3),
        ("TH", "Thuringia", "Jena", 0.15), ("ST", "Saxony-Anhalt", "Magdeburg", 0.3),
        ("ST", "Saxony-Anhalt", "Halle", 0.3), ("MV", "Mecklenburg-Vorpommern", "Rostock", 0.3),
        ("BB", "Brandenburg", "Potsdam", 0.3), ("BB", "Brandenburg", "Cottbus", 0.15),
        ("SL", "Saarland", "Saarbrücken", 0.3))),
    ("CN", -7, "zh-CN", 14.0, (
        ("SH", "Shanghai", "Shanghai", 2.2), ("BJ", "Beijing", "Beijing", 2.0),
        ("GD", "Guangdong", "Shenzhen", 1.6), ("GD", "Guangdong", "Guangzhou", 1.5),
        ("GD", "Guangdong", "Dongguan", 0.5), ("GD", "Guangdong", "Foshan", 0.4),
        ("ZJ", "Zhejiang", "Hangzhou", 0.9), ("ZJ", "Zhejiang", "Ningbo", 0.45),
        ("JS", "Jiangsu", "Nanjing", 0.7), ("JS", "Jiangsu", "Suzhou", 0.6), ("JS", "Jiangsu", "Wuxi", 0.3),
        ("SC", "Sichuan", "Chengdu", 0.9), ("HB", "Hubei", "Wuhan", 0.7),
        ("CQ", "Chongqing", "Chongqing", 0.7),
        ("SN", "Shaanxi", "Xi'an", 0.5), ("TJ", "Tianjin", "Tianjin", 0.5),
        ("SD", "Shandong", "Qingdao", 0.45),
        ("SD", "Shandong", "Jinan", 0.35), ("HN", "Hunan", "Changsha", 0.4), ("FJ", "Fujian", "Xiamen", 0.3),
        ("FJ", "Fujian", "Fuzhou", 0.3), ("LN", "Liaoning", "Shenyang", 0.3),
        ("LN", "Liaoning", "Dalian", 0.3),
        ("HA", "Henan", "Zhengzhou", 0.45), ("AH", "Anhui", "Hefei", 0.35), ("JL", "Jilin", "Changchun", 0.3),
        ("HE", "Hebei", "Shijiazhuang", 0.25))),
    ("FR", 0, "fr-FR", 9.0, (
        ("IDF", "Île-de-France", "Paris", 2.5), ("IDF", "Île-de-France", "Boulogne-Billancourt", 0.2),
        ("IDF", "Île-de-France", "Saint-Denis", 0.15), ("IDF", "Île-de-France", "Versailles", 0.12),
        ("ARA", "Auvergne-Rhône-Alpes", "Lyon", 0.9), ("ARA", "Auvergne-Rhône-Alpes", "Grenoble", 0.3),
        ("ARA", "Auvergne-Rhône-Alpes", "Saint-Étienne", 0.25),
        ("ARA", "Auvergne-Rhône-Alpes", "Clermont-Ferrand", 0.2),
        ("PAC", "Provence-Alpes-Côte d'Azur", "Marseille", 0.9),
        ("PAC", "Provence-Alpes-Côte d'Azur", "Nice", 0.45),
        ("PAC", "Provence-Alpes-Côte d'Azur", "Toulon", 0.2), ("OCC", "Occitanie", "Toulouse", 0.7),
        ("OCC", "Occitanie", "Montpellier", 0.4), ("NAQ", "Nouvelle-Aquitaine", "Bordeaux", 0.6),
        ("PDL", "Pays de la Loire", "Nantes", 0.5), ("PDL", "Pays de la Loire", "Angers", 0.2),
        ("HDF", "Hauts-de-France", "Lille", 0.55), ("HDF", "Hauts-de-France", "Amiens", 0.15),
        ("GES", "Grand Est", "Strasbourg", 0.5), ("GES", "Grand Est", "Reims", 0.2),
        ("GES", "Grand Est", "Metz", 0.2),
        ("BRE", "Brittany", "Rennes", 0.4), ("BRE", "Brittany", "Brest", 0.15),
        ("NOR", "Normandy", "Rouen", 0.25),
        ("NOR", "Normandy", "Le Havre", 0.2), ("BFC", "Bourgogne-Franche-Comté", "Dijon", 0.2),
        ("CVL", "Centre-Val de Loire", "Tours", 0.2), ("CVL", "Centre-Val de Loire", "Orléans", 0.15))),
    ("US", 6, "en-US", 8.0, (
        ("NY", "New York", "New York", 1.5), ("NY", "New York", "Buffalo", 0.15),
        ("CA", "California", "Los Angeles", 1.0), ("CA", "California", "San Francisco", 0.5),
        ("CA", "California", "San Diego", 0.4), ("CA", "California", "San Jose", 0.3),
        ("TX", "Texas", "Houston", 0.6), ("TX", "Texas", "Dallas", 0.55), ("TX", "Texas", "Austin", 0.35),
        ("IL", "Illinois", "Chicago", 0.8), ("FL", "Florida", "Miami", 0.45),
        ("FL", "Florida", "Orlando", 0.3),
        ("WA", "Washington", "Seattle", 0.4), ("MI", "Michigan", "Detroit", 0.5),
        ("GA", "Georgia", "Atlanta", 0.4),
        ("AZ", "Arizona", "Phoenix", 0.4), ("PA", "Pennsylvania", "Philadelphia", 0.45),
        ("PA", "Pennsylvania", "Pittsburgh", 0.2), ("OH", "Ohio", "Columbus", 0.25),
        ("OH", "Ohio", "Cleveland", 0.2),
        ("MA", "Massachusetts", "Boston", 0.35), ("CO", "Colorado", "Denver", 0.3),
        ("NC", "North Carolina", "Charlotte", 0.25))),
    ("GB", 1, "en-GB", 7.0, (
        ("ENG", "England", "London", 2.5), ("ENG", "England", "Manchester", 0.6),
        ("ENG", "England", "Birmingham", 0.6),
        ("ENG", "England", "Leeds", 0.35), ("ENG", "England", "Liverpool", 0.35),
        ("ENG", "England", "Bristol", 0.3),
        ("ENG", "England", "Sheffield", 0.25), ("ENG", "England", "Newcastle upon Tyne", 0.25),
        ("ENG", "England", "Nottingham", 0.2), ("ENG", "England", "Coventry", 0.15),
        ("SCT", "Scotland", "Glasgow", 0.35),
        ("SCT", "Scotland", "Edinburgh", 0.35), ("WLS", "Wales", "Cardiff", 0.25),
        ("NIR", "Northern Ireland", "Belfast", 0.2))),
    ("AT", 0, "de-AT", 4.0, (
        ("9", "Vienna", "Vienna", 1.8), ("6", "Styria", "Graz", 0.5), ("4", "Upper Austria", "Linz", 0.4),
        ("5", "Salzburg", "Salzburg", 0.3), ("7", "Tyrol", "Innsbruck", 0.25),
        ("2", "Carinthia", "Klagenfurt", 0.15))),
    ("CH", 0, "de-CH", 3.5, (
        ("ZH", "Zurich", "Zurich", 1.0), ("ZH", "Zurich", "Winterthur", 0.2), ("GE", "Geneva", "Geneva", 0.5),
        ("BS", "Basel-City", "Basel", 0.35), ("BE", "Bern", "Bern", 0.35), ("VD", "Vaud", "Lausanne", 0.3),
        ("LU", "Lucerne", "Lucerne", 0.2), ("TI", "Ticino", "Lugano", 0.15))),
    ("NL", 0, "nl-NL", 3.0, (
        ("NH", "North Holland", "Amsterdam", 1.0), ("NH", "North Holland", "Haarlem", 0.15),
        ("ZH", "South Holland", "Rotterdam", 0.5), ("ZH", "South Holland", "The Hague", 0.4),
        ("UT", "Utrecht", "Utrecht", 0.3), ("NB", "North Brabant", "Eindhoven", 0.25),
        ("GR", "Groningen", "Groningen", 0.15))),
    ("IT", 0, "it-IT", 3.0, (
        ("25", "Lombardy", "Milan", 1.0), ("62", "Lazio", "Rome", 0.9), ("21", "Piedmont", "Turin", 0.45),
        ("72", "Campania", "Naples", 0.35), ("45", "Emilia-Romagna", "Bologna", 0.3),
        ("52", "Tuscany", "Florence", 0.25), ("34", "Veneto", "Verona", 0.15))),
    ("ES", 0, "es-ES", 2.5, (
        ("MD", "Madrid", "Madrid", 1.0), ("CT", "Catalonia", "Barcelona", 0.9),
        ("VC", "Valencia", "Valencia", 0.35),
        ("AN", "Andalusia", "Seville", 0.3), ("AN", "Andalusia", "Málaga", 0.2),
        ("PV", "Basque Country", "Bilbao", 0.15))),
    ("PL", 0, "pl-PL", 2.5, (
        ("14", "Mazovia", "Warsaw", 1.0), ("12", "Lesser Poland", "Kraków", 0.45),
        ("02", "Lower Silesia", "Wrocław", 0.4),
        ("30", "Greater Poland", "Poznań", 0.35), ("10", "Łódź Voivodeship", "Łódź", 0.3),
        ("22", "Pomerania", "Gdańsk", 0.3), ("24", "Silesia", "Katowice", 0.3))),
    ("BE", 0, "nl-BE", 1.5, (
        ("BRU", "Brussels Capital", "Brussels", 0.5), ("VLG", "Flanders", "Antwerp", 0.4),
        ("VLG", "Flanders", "Ghent", 0.3), ("WAL", "Wallonia", "Liège", 0.2))),
    ("TR", -2, "tr-TR", 1.0, (("34", "Istanbul", "Istanbul", 0.7), ("06", "Ankara", "Ankara", 0.3))),
    ("CZ", 0, "cs-CZ", 1.0, (("10", "Prague", "Prague", 0.6), ("64", "South Moravian", "Brno", 0.3))),
    ("DK", 0, "da-DK", 0.8, (("84", "Capital Region", "Copenhagen", 0.6),
    ("82", "Central Jutland", "Aarhus", 0.2))),
    ("SE", 0, "sv-SE", 0.8, (("AB", "Stockholm", "Stockholm", 0.5),
    ("O", "Västra Götaland", "Gothenburg", 0.3))),
    ("IN", -4, "en-IN", 0.8, (("MH", "Maharashtra", "Mumbai", 0.3), ("DL", "Delhi", "New Delhi", 0.3),
                              ("KA", "Karnataka", "Bengaluru", 0.2))),
    ("JP", -8, "ja-JP", 0.7, (("13", "Tokyo", "Tokyo", 0.5), ("27", "Osaka", "Osaka", 0.2))),
    ("CA", 6, "en-CA", 0.6, (("ON", "Ontario", "Toronto", 0.35), ("QC", "Quebec", "Montreal", 0.25))),
    ("BR", 4, "pt-BR", 0.6, (("SP", "São Paulo", "São Paulo", 0.4),
    ("RJ", "Rio de Janeiro", "Rio de Janeiro", 0.2))),
    ("AU", -9, "en-AU", 0.4, (("NSW", "New South Wales", "Sydney", 0.25),
    ("VIC", "Victoria", "Melbourne", 0.15))),
)
CITY_LANGUAGES = {"Geneva": "fr-CH", "Lausanne": "fr-CH", "Lugano": "it-CH", "Brussels": "fr-BE",
                  "Liège": "fr-BE", "Montreal": "fr-CA"}
UNLOCATED_SHARE = 0.8  # percent of visitors whose address is in no GeoIP record at all
NO_CITY_SHARE = 0.07   # of a country's visitors: a country but no city
# A visitor's browser sends a second language now and then: en-US in Germany, de-DE in Austria, ...
OTHER_LANGUAGES = ("en-US", "en-GB", "de-DE", "tr-TR", "ru-RU", "pl-PL", "fr-FR", "ar", "zh-CN", "es-ES")
OTHER_LANGUAGE_SHARE = 0.14

# (device, browser, versions, OS, OS versions, brand group, model, ua-parser family, weight, weight in
# China). Versions and brands: most common first.
Agent = tuple[str, str, str, str, str, str, str, str, float, float]
AGENTS: tuple[Agent, ...] = (
    ("desktop", "Chrome", "131.0 130.0 132.0 129.0 128.0 109.0", "Windows", "10 11 7", "", "", "Chrome", 21,
     10),
    ("desktop", "Edge", "131.0 130.0 129.0", "Windows", "10 11", "", "", "Edge", 8, 4),
    ("desktop", "Firefox", "133.0 132.0 128.0 115.0", "Windows", "10 11", "", "", "Firefox", 4, 0.6),
    ("desktop", "Chrome", "131.0 130.0 129.0", "macOS", "10.15", "apple", "Mac", "Chrome", 4, 2),
    ("desktop", "Safari", "18.1 18.0 17.6 17.5 16.6", "macOS", "10.15", "apple", "Mac", "Safari", 5, 2),
    ("desktop", "Firefox", "133.0 128.0 115.0", "Ubuntu", "", "", "", "Firefox", 0.9, 0.1),
    ("desktop", "Chrome", "131.0 130.0", "Linux", "", "", "", "Chrome", 1.1, 0.2),
    ("desktop", "Opera", "114.0 113.0", "Windows", "10 11", "", "", "Opera", 0.7, 0),
    ("desktop", "Chrome", "131.0 130.0", "Chrome OS", "14541.0", "", "", "Chrome", 0.4, 0),
    ("desktop", "360 Browser", "13.5 14.0", "Windows", "10 7", "", "", "360 Browser", 0, 4),
    ("desktop", "QQ Browser", "13.0 12.9", "Windows", "10 11", "", "", "QQ Browser", 0, 3),
    ("mobile", "Safari", "18.1 18.0 17.6 18.2 17.5 16.6", "iOS", "18.1 18.0.1 17.6.1 18.2 17.5.1 16.7.10",
     "apple", "iPhone", "Mobile Safari", 17, 11),
    ("mobile", "Chrome", "131.0 130.0 129.0 124.0", "Android", "10 14 13 12 11 15", "android", "",
     "Chrome Mobile", 15, 2),
    ("mobile", "Samsung Internet", "26.0 25.0 24.0 23.0", "Android", "10 14 13", "samsung", "",
     "Samsung Internet", 5, 0),
    ("mobile", "Chrome", "131.0 130.0", "iOS", "18.1 17.6.1 18.0.1", "apple", "iPhone", "Chrome Mobile iOS",
     3, 0.5),
    ("mobile", "Firefox", "133.0 132.0", "Android", "14 13", "android", "", "Firefox Mobile", 0.8, 0),
    ("mobile", "Chrome WebView", "131.0 130.0", "Android", "14 13 12", "android", "", "Chrome Mobile WebView",
     1.3, 0),
    ("mobile", "Facebook", "488.0 487.0", "iOS", "18.1 17.6.1", "apple", "iPhone", "Facebook", 0.9, 0),
    ("mobile", "WeChat", "8.0", "Android", "14 13 12 10", "android_cn", "", "WeChat", 0.1, 14),
    ("mobile", "WeChat", "8.0", "iOS", "18.1 17.6.1 16.7.10", "apple", "iPhone", "WeChat", 0.1, 8),
    ("mobile", "Huawei Browser", "15.0 14.0", "Android", "12 10", "huawei", "", "Huawei Browser", 0, 6),
    ("mobile", "UC Browser", "17.0 16.9 15.5", "Android", "13 12 10", "android_cn", "", "UC Browser", 0.3, 5),
    ("mobile", "MiuiBrowser", "18.5 17.7", "Android", "14 13", "xiaomi", "", "MiuiBrowser", 0.2, 5),
    ("tablet", "Chrome", "131.0 130.0", "Android", "14 13 12", "tablet", "", "Chrome", 2.5, 1),
    ("tablet", "Safari", "18.1 17.6 16.6", "iOS", "18.1 17.6.1 16.7.10", "apple", "iPad", "Mobile Safari",
     1.5, 2),
    ("tablet", "Chrome", "131.0", "iOS", "18.1 17.6.1", "apple", "iPad", "Chrome Mobile iOS", 0.4, 0.2),
    ("tablet", "Huawei Browser", "14.0", "Android", "12", "huawei", "", "Huawei Browser", 0, 2),
)
BRANDS = {
    "": ("",), "apple": ("Apple",), "samsung": ("Samsung",), "huawei": ("Huawei", "Honor"),
    "xiaomi": ("Xiaomi", "Redmi", "POCO"),
    "android": ("Samsung", "Xiaomi", "Google", "Motorola", "OnePlus", "Oppo", "Huawei", "Sony", "Nokia",
                "Realme"),
    "android_cn": ("Huawei", "Xiaomi", "Oppo", "Vivo", "Honor", "OnePlus", "Realme"),
    "tablet": ("Samsung", "Lenovo", "Xiaomi", "Huawei"),
}
SCREENS = {
    "desktop": ("1920x1080", "1536x864", "1366x768", "2560x1440", "1440x900", "1280x720", "1600x900",
                "1680x1050", "1280x800", "3840x2160", "1920x1200", "2560x1600", "1280x1024", "3440x1440"),
    "mobile": ("390x844", "393x873", "412x915", "414x896", "360x800", "375x667", "430x932", "393x852",
               "412x892", "360x780", "384x854", "428x926", "375x812", "360x640"),
    "tablet": ("810x1080", "768x1024", "820x1180", "800x1280", "1024x1366", "834x1194", "962x601",
               "1280x800"),
}

# The catalogue: hubs first (ranked by traffic), then products in random order (the long tail).
HUBS = (
    "/", "/brakes", "/search", "/brakes/pads", "/filters", "/cart", "/brakes/discs", "/lights",
    "/filters/oil", "/tyres", "/lights/bulbs", "/vehicle-finder", "/suspension", "/wipers", "/batteries",
    "/engine", "/offers", "/filters/air", "/exhaust", "/clutch", "/checkout", "/cooling", "/account",
    "/steering", "/brakes/calipers", "/filters/cabin", "/lights/headlights", "/suspension/shock-absorbers",
    "/tyres/winter", "/tyres/summer", "/engine/spark-plugs", "/engine/timing-belts", "/account/orders",
    "/brands", "/help", "/shipping", "/returns", "/blog", "/contact", "/blog/how-to-change-brake-pads",
    "/blog/winter-tyre-guide", "/about", "/blog/which-oil-filter-fits", "/offers/brake-week",
    "/offers/winter-tyres", "/newsletter", "/privacy", "/imprint", "/terms", "/blog/h7-bulbs-compared",
    "/blog/when-to-replace-shock-absorbers", "/careers",
)
SEARCH_PATH = "/search"
PRODUCT_LINES = {
    "brakes": ("pads", "discs", "calipers", "brake-fluid", "drums"),
    "filters": ("oil", "air", "cabin", "fuel"),
    "lights": ("bulbs", "headlights", "tail-lights"),
    "engine": ("spark-plugs", "timing-belts", "water-pumps"),
    "suspension": ("shock-absorbers", "springs", "control-arms"),
    "wipers": ("blades",), "batteries": ("car-batteries",), "exhaust": ("silencers", "lambda-sensors"),
    "clutch": ("clutch-kits",), "cooling": ("radiators", "thermostats"), "steering": ("tie-rods",),
    "tyres": ("winter", "summer", "all-season"),
}
MAKERS = ("ate", "bosch", "brembo", "trw", "textar", "mann-filter", "mahle", "osram", "philips", "hella",
          "valeo", "continental", "michelin", "sachs", "bilstein", "febi", "lemfoerder", "varta", "ngk",
          "denso", "zimmermann")
PRODUCTS = 3200


def pages(seed: int) -> list[tuple[str, str]]:
    """(path, title) for every page, most visited first."""
    rnd = random.Random(seed)
    products = sorted({f"/parts/{line}/{kind}/{rnd.choice(MAKERS)}-{rnd.randrange(10**5, 10**7)}"
                       for _ in range(PRODUCTS) for line in [rnd.choice(list(PRODUCT_LINES))]
                       for kind in [rnd.choice(PRODUCT_LINES[line])]})
    rnd.shuffle(products)
    ranked = [*HUBS[:12], *products[:20], *HUBS[12:], *products[20:]]

    def title(path: str) -> str:
        parts = path.strip("/").split("/")
        if parts[0] == "parts":
            maker, _, number = parts[3].rpartition("-")
            return f"{maker.replace('-', ' ').title()} {parts[2].replace('-', ' ')} {number} | Parts Example"
        return f"{parts[-1].replace('-', ' ').capitalize() or 'Car parts for every model'} | Parts Example"
    return [(path, title(path)) for path in ranked]


# Referrers: (type, name, host, weight, weight in China). A "website" row draws its host from
# WEBSITES (or CN_WEBSITES); a "campaign" row is the campaign of the same index in CAMPAIGNS.
Referrer = tuple[str, str, str, float, float]
REFERRERS: tuple[Referrer, ...] = (
    ("direct", "", "", 40, 34),
    ("search", "Google", "www.google.com", 24, 0.8), ("search", "Bing", "www.bing.com", 3, 0.6),
    ("search", "DuckDuckGo", "duckduckgo.com", 0.8, 0), ("search", "Ecosia", "www.ecosia.org", 0.6, 0),
    ("search", "Yahoo", "search.yahoo.com", 0.4, 0), ("search", "Qwant", "www.qwant.com", 0.3, 0),
    ("search", "Baidu", "www.baidu.com", 0.2, 18), ("search", "Sogou", "www.sogou.com", 0, 3),
    ("search", "360 Search", "www.so.com", 0, 2.5), ("search", "Shenma", "m.sm.cn", 0, 2),
    ("social", "Facebook", "l.facebook.com", 2.2, 0), ("social", "YouTube", "www.youtube.com", 1.3, 0),
    ("social", "Instagram", "l.instagram.com", 0.8, 0), ("social", "Reddit", "www.reddit.com", 0.6, 0),
    ("social", "X", "t.co", 0.3, 0), ("social", "Pinterest", "www.pinterest.de", 0.3, 0),
    ("social", "WhatsApp", "web.whatsapp.com", 0.3, 0), ("social", "LinkedIn", "www.linkedin.com", 0.1, 0),
    ("social", "WeChat", "mp.weixin.qq.com", 0, 6), ("social", "Douyin", "www.douyin.com", 0, 1.5),
    ("social", "Weibo", "weibo.com", 0, 1.2), ("social", "Xiaohongshu", "www.xiaohongshu.com", 0, 1.2),
    ("social", "Zhihu", "www.zhihu.com", 0, 1.0), ("social", "Bilibili", "www.bilibili.com", 0, 0.8),
    ("website", "", "", 12, 0), ("website", "cn", "", 0, 8),
)
# (source, medium, name, term, landing page ("" = a product), referrer host, weight, weight in China).
# "{week}" in a name is the ISO week of the visit: a weekly newsletter.
Campaign = tuple[str, str, str, str, str, str, float, float]
CAMPAIGNS: tuple[Campaign, ...] = (
    ("newsletter", "email", "newsletter-{week}", "", "/offers", "", 3.5, 0),
    ("google", "cpc", "brake-parts-search", "brake pads", "/brakes/pads", "www.google.com", 2.5, 0),
    ("google", "cpc", "winter-tyres", "winterreifen", "/tyres/winter", "www.google.com", 1.2, 0),
    ("google", "cpc", "brand-parts-example", "parts example", "/", "www.google.com", 1.0, 0),
    ("bing", "cpc", "brake-parts-search", "bremsbeläge", "/brakes/pads", "www.bing.com", 0.4, 0),
    ("facebook", "paid-social", "brake-week", "", "/offers/brake-week", "l.facebook.com", 0.9, 0),
    ("instagram", "paid-social", "winter-check", "", "/offers/winter-tyres", "l.instagram.com", 0.6, 0),
    ("idealo", "price-comparison", "product-feed", "", "", "www.idealo.de", 0.8, 0),
    ("partner", "affiliate", "motor-blog-q4", "", "/brakes", "", 0.3, 0),
    ("youtube", "video", "howto-brake-pads", "", "/blog/how-to-change-brake-pads", "www.youtube.com", 0.3, 0),
    ("baidu", "cpc", "刹车片", "刹车片", "/brakes/pads", "www.baidu.com", 0, 1.5),
    ("wechat", "social", "wechat-article-brakes", "", "/brakes", "mp.weixin.qq.com", 0, 1.0),
)
WEBSITES_HEAD = (
    "motor-talk.de", "idealo.de", "chatgpt.com", "autobild.de", "geizhals.de", "pistonheads.com", "adac.de",
    "check24.de", "mail.google.com", "caradisiac.com", "billiger.de", "autoscout24.de", "web.de", "gmx.net",
    "outlook.live.com", "perplexity.ai", "honestjohn.co.uk", "autoexpress.co.uk", "bimmerforums.com",
    "vwvortex.com", "leboncoin.fr", "autoplus.fr", "t-online.de", "copilot.microsoft.com", "edmunds.com",
    "audizine.com", "kleinanzeigen.de", "forum-auto.caradisiac.com", "autozeitung.de", "mobile.de",
)
CN_WEBSITES = ("www.autohome.com.cn", "www.dongchedi.com", "www.yiche.com", "www.xcar.com.cn",
               "www.pcauto.com.cn",
               "www.smzdm.com", "tieba.baidu.com", "www.che168.com")
SOCIAL_PATHS = ("/", "/watch", "/r/mechanics/comments", "/groups/diy-car-repair", "/s/article")


def websites(seed: int, count: int = 320) -> list[str]:
    """Referring hosts, most frequent first: well-known ones, then a made-up long tail of forums and blogs."""
    rnd = random.Random(seed + 1)
    first = ("classic", "oldtimer", "tuning", "garage", "diy", "werkstatt", "auto", "car", "kfz",
             "youngtimer",
             "camper", "van", "racing", "4x4", "golf", "bmw", "audi", "opel", "renault", "volvo")
    second = ("forum", "club", "blog", "community", "tips", "magazin", "news", "talk", "freunde", "scene")
    tlds = ("de", "com", "fr", "co.uk", "nl", "at", "ch", "net", "org", "pl", "it")
    tail: set[str] = set()
    while len(tail) < count - len(WEBSITES_HEAD):
        tail.add(f"{rnd.choice(first)}-{rnd.choice(second)}.{rnd.choice(tlds)}")
    return [*WEBSITES_HEAD, *sorted(tail)]


VEHICLES = ("VW Golf VII", "BMW 3 Series (F30)", "Audi A4 (B9)", "Mercedes C-Class (W205)", "Opel Astra K",
            "Ford Focus III", "Škoda Octavia III", "VW Passat B8", "Renault Clio IV", "Peugeot 208",
            "Toyota Corolla", "Tesla Model 3", "Fiat 500", "VW Polo VI", "BMW 1 Series (F20)", "Hyundai i30",
            "Dacia Duster")
VIDEOS = ("How to change brake pads", "Winter tyre check", "Replacing an H7 bulb", "Oil change in 10 minutes")
# (category, action, names ("*" = the product on the page), weight, weight on a product page)
EVENTS = (
    ("Cart", "Add", ("*",), 4, 30), ("Vehicle", "Select", VEHICLES, 20, 6),
    ("Filter", "Apply", ("Brand", "Price", "In stock", "Vehicle", "Axle: front", "Axle: rear", "Rating"), 12,
     4),
    ("Cart", "Remove", ("*",), 1, 4), ("Wishlist", "Add", ("*",), 1, 4),
    ("Video", "Play", VIDEOS, 5, 2), ("Video", "Complete", VIDEOS[:3], 2, 0.5),
    ("Checkout", "Start", ("",), 3, 1),
    ("Checkout", "Payment", ("PayPal", "Credit card", "Klarna", "Invoice", "Alipay", "Apple Pay"), 2, 0),
    ("Chat", "Open", ("Help button", "Product page"), 2, 2),
    ("Newsletter", "Subscribe", ("Footer", "Popup"), 1.5, 0),
)
SEARCH_KEYWORDS = {
    "de": ("bremsbeläge", "ölfilter", "h7", "bremsscheiben", "scheibenwischer", "winterreifen", "batterie",
           "luftfilter", "zündkerzen", "stoßdämpfer", "innenraumfilter", "golf 7 bremsbeläge", "h4",
           "zahnriemen", "kupplung", "thermostat", "bremsflüssigkeit", "koppelstange", "auspuff",
           "lambdasonde", "wischblätter", "bosch", "ate", "brembo", "mann filter", "osram night breaker",
           "varta", "passat b8 bremsen"),
    "en": ("brake pads", "oil filter", "h7 bulb", "brake discs", "wiper blades", "battery", "air filter",
           "spark plugs", "shock absorbers", "cabin filter", "timing belt", "winter tyres", "clutch kit",
           "h4", "thermostat", "brembo", "bosch wiper", "led headlight"),
    "fr": ("plaquettes de frein", "filtre à huile", "ampoule h7", "disques de frein", "essuie-glace",
           "batterie", "filtre à air", "bougies", "amortisseurs", "pneus hiver", "kit embrayage"),
    "zh": ("刹车片", "机油滤芯", "火花塞", "雨刮器", "刹车盘", "蓄电池", "空气滤芯",
           "大众刹车片", "博世", "减震器"),
}
KEYWORD_GROUPS = tuple(SEARCH_KEYWORDS)  # by the language's first two letters; others search in English
OUTLINKS = (
    "https://www.youtube.com/watch?v=brake-pads-howto", "https://www.paypal.com/checkoutnow",
    "https://www.dhl.de/de/privatkunden/pakete-empfangen/verfolgen.html",
    "https://www.trustedshops.de/bewertung/",
    "https://www.ate-brakes.com/", "https://www.bosch-mobility.com/en/", "https://www.brembo.com/en",
    "https://www.instagram.com/partsexample/", "https://www.facebook.com/partsexample",
    "https://www.ups.com/track",
    "https://www.mann-filter.com/en.html", "https://www.osram.com/am/", "https://www.hella.com/",
    "https://www.adac.de/rund-ums-fahrzeug/", "https://www.kba.de/",
    "https://de.wikipedia.org/wiki/Scheibenbremse",
    "https://www.motor-talk.de/forum/", "https://www.michelin.de/", "https://www.continental-reifen.de/",
    "https://www.klarna.com/de/", "https://www.tuv.com/germany/de/", "https://www.sf-express.com/",
)
DOWNLOADS = (
    "https://parts.example/docs/catalogue-2026.pdf",
    "https://parts.example/docs/brake-pads-fitting-guide.pdf",
    "https://parts.example/docs/returns-form.pdf", "https://parts.example/docs/tyre-label-guide.pdf",
    "https://parts.example/docs/bulb-compatibility.xlsx", "https://parts.example/docs/warranty.pdf",
)

# Consent decisions: (action, categories, source, weight). "reject all" is a refusal or a grant
# of nothing optional; "custom" is any other grant or update.
CONSENT_MIX = (
    ("grant", ("analytics", "marketing", "necessary"), "banner", 50),
    ("refuse", ("necessary",), "banner", 23),
    ("grant", ("analytics", "necessary"), "banner", 11),
    ("grant", ("marketing", "necessary"), "banner", 2),
    ("update", ("analytics", "necessary"), "banner", 3),
    ("update", ("analytics", "marketing", "necessary"), "banner", 2),
    ("update", ("necessary",), "banner", 1.5),
    ("withdraw", ("necessary",), "banner", 4),
    ("refuse", ("necessary",), "gpc", 2.5),
    ("grant", ("analytics", "necessary"), "api", 1),
)
