"""The WebShop catalog: products generated deterministically from per-category grammars.

WebShop (Yao et al. 2022) scraped 1.18M Amazon products; we generate ours, offline, with the same
fields its reward reads: a title, a breadcrumb ``category``, a product ``type`` (WebShop's search
``query``), ``attributes`` ("gluten free"), ``options`` per dimension (size, color, flavor), a
price, a description and feature bullets.

Each category is a small grammar (:class:`CategoryGrammar`): product types, an attribute pool,
option dimensions with their values, title descriptors, brand syllables, a price range and
description sentences. :func:`generate_catalog` walks every grammar with its own
``random.Random(seed)`` (seeds are fixed integers, never ``hash()``), so the catalog is the same on
every machine. :func:`load_catalog` caches it as JSON under :func:`cache_dir`.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

#: Bump when the grammar or the generator changes: cached files carry it in their names.
CATALOG_VERSION = 1
#: Default products per category (12 categories -> 10,800 products).
DEFAULT_PER_CATEGORY = 900
DEFAULT_SEED = 0

_COLORS = ("black", "white", "navy blue", "gray", "red", "green", "beige", "brown", "pink", "olive")


@dataclass(frozen=True)
class CategoryGrammar:
    """One category's grammar. Option values are unique across the category's dimensions."""

    key: str
    path: tuple[str, ...]  # breadcrumb, WebShop's ``product_category`` ("a > b > c")
    types: tuple[str, ...]  # product types: the noun phrase a title ends with
    attributes: tuple[str, ...]
    options: dict[str, tuple[str, ...]]
    descriptors: tuple[str, ...]
    price: tuple[float, float]
    blurbs: tuple[str, ...]
    #: how an instruction names a value of a dimension ("size {v}" for bare shoe sizes)
    option_phrases: dict[str, str] = field(default_factory=dict)


GRAMMARS: tuple[CategoryGrammar, ...] = (
    CategoryGrammar(
        key="shoes", path=("Clothing, Shoes & Jewelry", "Shoes", "Athletic & Casual"),
        types=("running shoes", "sneakers", "hiking boots", "sandals", "loafers", "slip on shoes"),
        attributes=("non slip", "lightweight", "water resistant", "breathable mesh", "memory foam",
                    "arch support", "rubber sole", "wide fit", "vegan leather", "machine washable"),
        options={"size": ("6", "6.5", "7", "7.5", "8", "8.5", "9", "9.5", "10", "10.5", "11", "12"),
                 "color": _COLORS},
        option_phrases={"size": "size {v}"},
        descriptors=("classic", "everyday", "comfort", "trail", "urban", "athletic"),
        price=(19.0, 140.0),
        blurbs=("Cushioned insole for all-day wear.", "Flexible outsole grips wet and dry floors.",
                "Padded collar and heel tab for an easy fit."),
    ),
    CategoryGrammar(
        key="shirts", path=("Clothing, Shoes & Jewelry", "Men & Women", "Shirts & Tops"),
        types=("t-shirt", "polo shirt", "dress shirt", "flannel shirt", "henley shirt", "tank top"),
        attributes=("short sleeve", "long sleeve", "slim fit", "relaxed fit", "cotton", "moisture wicking",
                    "wrinkle free", "button down", "crew neck", "v neck", "machine washable"),
        options={"size": ("x-small", "small", "medium", "large", "x-large", "xx-large"), "color": _COLORS},
        descriptors=("essential", "classic", "soft", "vintage", "performance", "casual"),
        price=(9.0, 60.0),
        blurbs=("Pre-shrunk fabric that keeps its shape.", "Tag-free collar for comfort.",
                "Double-stitched seams for durability."),
    ),
    CategoryGrammar(
        key="headphones", path=("Electronics", "Headphones, Earbuds & Accessories", "Headphones"),
        types=("wireless earbuds", "over-ear headphones", "on-ear headphones", "gaming headset",
               "sport earphones", "bone conduction headphones"),
        attributes=("noise cancelling", "bluetooth 5.3", "built-in microphone", "fast charging",
                    "sweatproof", "foldable", "long battery life", "touch control", "low latency",
                    "hi-res audio"),
        options={"color": ("black", "white", "silver", "midnight blue", "rose gold", "charcoal"),
                 "style": ("standard", "pro", "lite", "max")},
        descriptors=("studio", "premium", "compact", "true wireless", "deep bass", "clear"),
        price=(15.0, 300.0),
        blurbs=("Balanced drivers with deep bass.", "Pairs instantly with phones and laptops.",
                "Soft ear cushions for long listening sessions."),
    ),
    CategoryGrammar(
        key="coffee", path=("Grocery & Gourmet Food", "Beverages", "Coffee"),
        types=("ground coffee", "whole bean coffee", "coffee pods", "instant coffee", "cold brew coffee"),
        attributes=("organic", "fair trade", "gluten free", "decaf", "low acid", "non gmo", "kosher",
                    "single origin", "small batch roasted", "sugar free"),
        options={"roast": ("light roast", "medium roast", "dark roast", "espresso roast"),
                 "size": ("8 oz", "12 oz", "16 oz", "2 lb", "5 lb")},
        descriptors=("breakfast blend", "house blend", "smooth", "bold", "colombian", "french"),
        price=(5.0, 45.0),
        blurbs=("Roasted in small lots for a rich cup.", "Notes of cocoa and toasted nuts.",
                "Packed fresh in a resealable bag."),
    ),
    CategoryGrammar(
        key="tea", path=("Grocery & Gourmet Food", "Beverages", "Tea"),
        types=("green tea", "black tea", "herbal tea", "chai tea", "matcha powder", "oolong tea"),
        attributes=("organic", "caffeine free", "gluten free", "non gmo", "kosher", "fair trade",
                    "sugar free", "loose leaf", "individually wrapped", "vegan"),
        options={"flavor": ("original", "mint", "lemon ginger", "peach", "vanilla", "chamomile", "berry"),
                 "count": ("20 count", "40 count", "100 count")},
        descriptors=("imperial", "daily", "calming", "classic", "royal", "garden"),
        price=(4.0, 35.0),
        blurbs=("Steep for three minutes for a bright cup.", "Hand-picked leaves from high gardens.",
                "Great hot or iced."),
    ),
    CategoryGrammar(
        key="hair_care", path=("Beauty & Personal Care", "Hair Care", "Shampoo & Conditioner"),
        types=("shampoo", "conditioner", "dry shampoo", "hair mask", "hair oil", "leave-in conditioner"),
        attributes=("sulfate free", "paraben free", "cruelty free", "color safe", "for dry hair",
                    "for curly hair", "anti dandruff", "natural ingredients", "vegan", "fragrance free"),
        options={"scent": ("coconut", "lavender", "argan", "citrus", "unscented", "rosemary mint"),
                 "size": ("8 fl oz", "12 fl oz", "16 fl oz", "32 fl oz")},
        descriptors=("salon", "daily", "repair", "volumizing", "hydrating", "smoothing"),
        price=(5.0, 50.0),
        blurbs=("Gently cleanses without stripping moisture.", "Leaves hair soft and shiny.",
                "Made with plant-based oils."),
    ),
    CategoryGrammar(
        key="skin_care", path=("Beauty & Personal Care", "Skin Care", "Face"),
        types=("face moisturizer", "facial cleanser", "vitamin c serum", "sunscreen lotion", "eye cream",
               "night cream"),
        attributes=("fragrance free", "cruelty free", "paraben free", "for sensitive skin", "oil free",
                    "non comedogenic", "hyaluronic acid", "dermatologist tested", "spf 30", "vegan"),
        options={"size": ("1 fl oz", "1.7 fl oz", "3.4 fl oz", "6 fl oz"),
                 "skin type": ("normal skin", "dry skin", "oily skin", "combination skin")},
        descriptors=("daily", "gentle", "advanced", "radiant", "clinical", "pure"),
        price=(6.0, 80.0),
        blurbs=("Absorbs quickly with no greasy feel.", "Layers well under makeup.",
                "Tested on all skin tones."),
    ),
    CategoryGrammar(
        key="snacks", path=("Grocery & Gourmet Food", "Snack Foods", "Snacks"),
        types=("protein bars", "granola", "trail mix", "potato chips", "popcorn", "rice crackers"),
        attributes=("gluten free", "low sugar", "high protein", "non gmo", "kosher", "vegan", "keto friendly",
                    "nut free", "organic", "individually wrapped"),
        options={"flavor": ("sea salt", "barbecue", "chocolate chip", "peanut butter", "cheddar",
                            "honey almond", "sour cream and onion"),
                 "pack": ("pack of 6", "pack of 12", "pack of 24")},
        descriptors=("crunchy", "wholesome", "family size", "snack time", "hearty", "classic"),
        price=(4.0, 40.0),
        blurbs=("A satisfying snack for work or the trail.", "Made with simple ingredients.",
                "Crunchy, flavorful and easy to share."),
    ),
    CategoryGrammar(
        key="phone_cases", path=("Electronics", "Cell Phones & Accessories", "Cases"),
        types=("phone case", "wallet case", "rugged case", "clear case", "silicone case", "battery case"),
        attributes=("shockproof", "slim", "wireless charging compatible", "card holder", "kickstand",
                    "screen protector included", "drop tested", "anti scratch", "magnetic", "raised edges"),
        options={"model": ("iphone 13", "iphone 14", "iphone 15", "galaxy s22", "galaxy s23", "pixel 8"),
                 "color": ("black", "clear", "navy blue", "purple", "green", "red")},
        option_phrases={"model": "for {v}"},
        descriptors=("armor", "minimal", "tough", "essential", "sleek", "classic"),
        price=(6.0, 60.0),
        blurbs=("Precise cutouts for buttons and ports.", "Raised lip protects the camera.",
                "Grippy finish that resists fingerprints."),
    ),
    CategoryGrammar(
        key="backpacks", path=("Clothing, Shoes & Jewelry", "Luggage & Travel Gear", "Backpacks"),
        types=("laptop backpack", "hiking backpack", "school backpack", "travel backpack", "daypack",
               "rolling backpack"),
        attributes=("water resistant", "usb charging port", "anti theft", "lightweight", "padded straps",
                    "fits 15.6 inch laptop", "tsa friendly", "large capacity", "reflective strips",
                    "machine washable"),
        options={"color": ("black", "gray", "navy blue", "olive", "burgundy", "camo"),
                 "capacity": ("20 l", "30 l", "40 l", "50 l")},
        descriptors=("commuter", "explorer", "urban", "campus", "adventure", "business"),
        price=(15.0, 150.0),
        blurbs=("Multiple compartments keep gear organized.", "Breathable back panel for airflow.",
                "Heavy-duty zippers built to last."),
    ),
    CategoryGrammar(
        key="bedding", path=("Home & Kitchen", "Bedding", "Sheets & Comforters"),
        types=("sheet set", "comforter set", "duvet cover", "pillowcases", "mattress protector", "quilt"),
        attributes=("cooling", "deep pocket", "hypoallergenic", "wrinkle free", "machine washable",
                    "100% cotton", "microfiber", "oeko-tex certified", "breathable", "fade resistant"),
        options={"size": ("twin", "full", "queen", "king", "california king"),
                 "color": ("white", "gray", "navy blue", "sage green", "blush pink", "ivory")},
        option_phrases={"size": "{v} size"},
        descriptors=("luxury", "hotel", "soft", "cozy", "classic", "all season"),
        price=(15.0, 180.0),
        blurbs=("Soft to the touch and gets softer with every wash.", "Elastic all around for a snug fit.",
                "Sewn with reinforced seams."),
    ),
    CategoryGrammar(
        key="pet_food", path=("Pet Supplies", "Dogs & Cats", "Food & Treats"),
        types=("dry dog food", "wet dog food", "dog treats", "dry cat food", "wet cat food", "cat treats"),
        attributes=("grain free", "high protein", "natural ingredients", "no artificial flavors",
                    "for puppies", "for senior pets", "limited ingredient", "made in usa", "non gmo",
                    "for sensitive stomach"),
        options={"flavor": ("chicken", "salmon", "beef", "turkey", "lamb", "duck"),
                 "size": ("3 lb", "5 lb", "15 lb", "30 lb")},
        descriptors=("wholesome", "complete", "farm fresh", "premium", "adult", "classic"),
        price=(5.0, 90.0),
        blurbs=("Real meat is the first ingredient.", "Supports healthy digestion.",
                "Crafted with vitamins and minerals."),
    ),
)

_BRAND_HEADS = ("nor", "vel", "bright", "kin", "alto", "zen", "lum", "oak", "sol", "tera", "mira", "pax",
                "quin", "ravo", "sora", "tru", "vita", "wren", "yara", "cobal")
_BRAND_TAILS = ("vex", "line", "ora", "field", "nest", "co", "ly", "wave", "mark", "haven", "ridge", "lab")


@dataclass(frozen=True)
class Product:
    """One catalog product. ``options`` maps each dimension to the values this product offers."""

    asin: str
    title: str
    category: str  # grammar key
    path: tuple[str, ...]
    product_type: str
    attributes: tuple[str, ...]
    options: dict[str, tuple[str, ...]]
    price: float
    description: str
    features: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {"asin": self.asin, "title": self.title, "category": self.category, "path": list(self.path),
                "product_type": self.product_type, "attributes": list(self.attributes),
                "options": {k: list(v) for k, v in self.options.items()}, "price": self.price,
                "description": self.description, "features": list(self.features)}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> "Product":
        return cls(asin=d["asin"], title=d["title"], category=d["category"], path=tuple(d["path"]),
                   product_type=d["product_type"], attributes=tuple(d["attributes"]),
                   options={k: tuple(v) for k, v in d["options"].items()}, price=float(d["price"]),
                   description=d["description"], features=tuple(d["features"]))


def _title_case(phrase: str) -> str:
    return " ".join(w if any(c.isdigit() for c in w) else w[:1].upper() + w[1:] for w in phrase.split())


def _make_product(g: CategoryGrammar, rng: random.Random, asin: str) -> Product:
    brand = (rng.choice(_BRAND_HEADS) + rng.choice(_BRAND_TAILS)).capitalize()
    ptype = rng.choice(g.types)
    n_att = rng.randint(2, 4)
    attributes = tuple(sorted(rng.sample(g.attributes, n_att), key=g.attributes.index))
    options: dict[str, tuple[str, ...]] = {}
    for dim, values in g.options.items():
        k = rng.randint(2, min(5, len(values)))
        options[dim] = tuple(sorted(rng.sample(values, k), key=values.index))
    lo, hi = g.price
    price = round(int(lo * (hi / lo) ** rng.random()) + rng.choice((0.49, 0.95, 0.99)), 2)
    # Most attributes show in the title (the results page shows titles only); the rest only in the
    # features tab, as on real listings.
    in_title = [a for a in attributes if rng.random() < 0.85]
    descriptor = rng.choice(g.descriptors) if rng.random() < 0.6 else ""
    title = " ".join(p for p in (brand, _title_case(descriptor), " ".join(_title_case(a) for a in in_title),
                                 _title_case(ptype)) if p)
    offered = "; ".join(f"{dim}: {', '.join(vals)}" for dim, vals in options.items())
    description = (f"{brand} {ptype} that is {', '.join(attributes[:-1])} and {attributes[-1]}. "
                   + " ".join(rng.sample(g.blurbs, 2)) + f" Available options - {offered}.")
    features = tuple(f"{a}" for a in attributes) + (rng.choice(g.blurbs).rstrip("."),)
    return Product(asin=asin, title=title, category=g.key, path=g.path, product_type=ptype,
                   attributes=attributes, options=options, price=price, description=description,
                   features=features)


def generate_catalog(per_category: int = DEFAULT_PER_CATEGORY, seed: int = DEFAULT_SEED) -> list[Product]:
    """Generate ``per_category`` products for every grammar in :data:`GRAMMARS`, deterministically.

    Each category draws from ``random.Random(seed * 1000 + category_index)``; ASINs come from one
    more fixed-seed generator and are unique. Same arguments, same list, on every machine.
    """
    if per_category < 1:
        raise ValueError(f"per_category={per_category!r} must be >= 1.")
    asin_rng = random.Random(seed * 1000 + 999)
    alphabet = "0123456789ABCDEFGHJKLMNPQRSTUVWXYZ"
    seen: set[str] = set()
    products = []
    for ci, grammar in enumerate(GRAMMARS):
        rng = random.Random(seed * 1000 + ci)
        for _ in range(per_category):
            asin = "B0" + "".join(asin_rng.choice(alphabet) for _ in range(8))
            while asin in seen:
                asin = "B0" + "".join(asin_rng.choice(alphabet) for _ in range(8))
            seen.add(asin)
            products.append(_make_product(grammar, rng, asin))
    return products


def catalog_fingerprint(products: Sequence[Product]) -> str:
    """SHA-256 of the products' canonical JSON (the determinism check and the index's cache key)."""
    h = hashlib.sha256()
    for p in products:
        h.update(json.dumps(p.to_json(), sort_keys=True, separators=(",", ":")).encode())
    return h.hexdigest()


def cache_dir() -> Path:
    """``$ARCHER_GYM_CACHE`` if set, else ``~/.cache/archer_gym`` (created on demand)."""
    root = os.environ.get("ARCHER_GYM_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "archer_gym")
    path = Path(root) / "webshop"
    path.mkdir(parents=True, exist_ok=True)
    return path


def atomic_write_text(path: Path, text: str) -> None:
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def load_catalog(per_category: int = DEFAULT_PER_CATEGORY, seed: int = DEFAULT_SEED,
                 cache: bool = True) -> list[Product]:
    """The catalog, read from the JSON cache or generated and cached (atomically) on first use."""
    if not cache:
        return generate_catalog(per_category, seed)
    path = cache_dir() / f"catalog_v{CATALOG_VERSION}_seed{seed}_n{per_category}.json"
    if path.exists():
        try:
            return [Product.from_json(d) for d in json.loads(path.read_text())]
        except (ValueError, KeyError):
            pass  # a corrupt cache is regenerated, never trusted
    products = generate_catalog(per_category, seed)
    atomic_write_text(path, json.dumps([p.to_json() for p in products], separators=(",", ":")))
    return products


_WORD = re.compile(r"[a-z0-9]+(?:\.[0-9]+)?")


def tokens(text: str) -> list[str]:
    """Lower-case word tokens; a decimal number ("8.5") stays one token."""
    return _WORD.findall(text.lower())


def normalize(text: str) -> str:
    return " ".join(tokens(text))
