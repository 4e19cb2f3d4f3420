"""The world of archer/Detective-v0: "The Harrow House Affair", an original murder mystery.

Everything here is static data (plain frozen dataclasses, picklable); :mod:`tasks.detective.engine`
runs it. The map and the fixed objects are the same in every variant; a :class:`Variant` decides who
killed Lord Harrow, with what, where the weapon is hidden, and the wording of the clues that say so.

Map (13 locations)::

                      Servants' Room -- Landing -- Guest Room
                                          | up/down
        Study                             |
          | north                         |
        Library ----------------------- Entrance Hall -------- Dining Room
                                          | south                 | north
                                        Front Porch            Kitchen ---- Pantry
                                                                  | north
                                                   Tool Shed -- Garden -- Greenhouse

Scoring (100 points): brass key taken 5, burnt letter read 5, body examined 5, will read 10,
the killer's personal evidence taken 10, weapon taken 10, weapon examined 5, right accusation 50.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

#: Direction words, canonical name -> aliases the parser accepts.
DIRECTIONS: dict[str, tuple[str, ...]] = {
    "north": ("north", "n"), "south": ("south", "s"), "east": ("east", "e"), "west": ("west", "w"),
    "up": ("up", "u", "upstairs"), "down": ("down", "d", "downstairs"),
}


@dataclass(frozen=True)
class Room:
    id: str
    name: str
    description: str
    exits: dict[str, str]  # direction -> room id


@dataclass(frozen=True)
class Thing:
    """An object: scenery, portable item, container, readable, key.

    ``location`` is a room id, a container's id, or ``"inventory"``. ``hidden`` things are out of
    sight until ``revealed_by`` (another thing's id) is examined.
    """

    id: str
    name: str
    aliases: tuple[str, ...]
    location: str
    description: str
    portable: bool = False
    container: bool = False
    closed: bool = False
    locked: bool = False
    key: str | None = None  # id of the key that unlocks this container
    text: str | None = None  # what `read` shows
    hidden: bool = False
    revealed_by: str | None = None
    reveal_text: str = ""  # reply when the hidden thing is revealed
    #: scoring event (see SCORES) when this thing is first taken / read / examined
    on_take: str | None = None
    on_read: str | None = None
    on_examine: str | None = None


@dataclass(frozen=True)
class Suspect:
    id: str
    name: str
    aliases: tuple[str, ...]
    space: str  # id of the container that holds their belongings


@dataclass(frozen=True)
class Variant:
    """One case: who did it, with what, where the weapon is hidden, and the clue texts."""

    name: str
    killer: str  # suspect id
    cause: str  # what examining the body shows
    letter: str  # the half-burnt letter in the library grate
    will: str  # the revoked bequest in Lord Harrow's will
    weapon: Thing
    evidence: Thing
    hiding_place: str  # container id holding the weapon


#: Points per scoring event; the sum is the maximum score.
SCORES: dict[str, int] = {
    "key": 5, "letter": 5, "body": 5, "will": 10, "evidence": 10, "weapon": 10, "weapon_examined": 5,
    "accusation": 50,
}
MAX_SCORE: int = sum(SCORES.values())

START_ROOM = "porch"

ROOMS: dict[str, Room] = {r.id: r for r in [
    Room("porch", "Front Porch",
         "Rain drips from the eaves of Harrow House. A worn doormat lies before the front door.",
         {"north": "hall"}),
    Room("hall", "Entrance Hall",
         "A chilly hall with a chequered floor. A staircase climbs to the landing; doors lead east and west.",
         {"south": "porch", "west": "library", "east": "dining", "up": "landing"}),
    Room("library", "Library",
         "Shelves of unread books climb to the ceiling. The fire in the grate has burned down to ash.",
         {"east": "hall", "north": "study"}),
    Room("study", "Study",
         "Lord Harrow's study smells of cold pipe smoke. He lies slumped beside a heavy oak desk.",
         {"south": "library"}),
    Room("dining", "Dining Room",
         "A long table is laid for a dinner nobody ate. A mahogany sideboard stands against the wall.",
         {"west": "hall", "north": "kitchen"}),
    Room("kitchen", "Kitchen",
         "Copper pans hang above a cold range. Mrs. Pike's dresser stands by the back door.",
         {"south": "dining", "east": "pantry", "north": "garden"}),
    Room("pantry", "Pantry",
         "Shelves of pickling jars surround a big tin flour bin.",
         {"west": "kitchen"}),
    Room("garden", "Kitchen Garden",
         "Wet gravel paths run between rows of cabbages. A greenhouse glints to the east, a shed squats to the west.",
         {"south": "kitchen", "east": "greenhouse", "west": "shed"}),
    Room("greenhouse", "Greenhouse",
         "Fogged glass and the smell of damp earth. A wooden seed box sits on the potting bench.",
         {"west": "garden"}),
    Room("shed", "Tool Shed",
         "Rakes and spades lean on the walls. Tom Fenn's locker stands beside a battered tool chest.",
         {"east": "garden"}),
    Room("landing", "Upstairs Landing",
         "A long corridor lined with portraits of frowning Harrows. Doors open east and west.",
         {"down": "hall", "east": "guest", "west": "servants"}),
    Room("guest", "Guest Room",
         "Clara Harrow's room, heavy with perfume. A painted wardrobe fills one corner.",
         {"west": "landing"}),
    Room("servants", "Servants' Room",
         "A narrow room under the eaves. Mr. Greaves's trunk sits at the foot of a narrow bed.",
         {"east": "landing"}),
]}


def _box(id_: str, name: str, aliases: tuple[str, ...], room: str, description: str) -> Thing:
    return Thing(id_, name, aliases, room, description, container=True, closed=True)


#: Objects present in every variant.
FIXED_THINGS: tuple[Thing, ...] = (
    Thing("doormat", "doormat", ("doormat", "mat", "door mat", "worn doormat"), "porch",
          "A worn doormat with WELCOME almost rubbed away. One corner sits oddly high."),
    Thing("brass_key", "brass key", ("brass key", "key", "small key", "small brass key"), "porch",
          "A small brass key, the kind that fits a desk drawer.", portable=True, hidden=True,
          revealed_by="doormat", reveal_text="You lift a corner of the doormat and find a small brass key.",
          on_take="key"),
    Thing("grate", "grate", ("grate", "fireplace", "fire", "ash", "ashes", "hearth"), "library",
          "Cold ash, and a half-burnt letter that did not catch."),
    Thing("letter", "burnt letter", ("burnt letter", "letter", "note", "half-burnt letter", "half burnt letter"),
          "library", "A letter scorched at the edges; most of the writing survives.", portable=True,
          text="", on_read="letter"),  # text comes from the variant
    Thing("body", "body of Lord Harrow", ("body", "corpse", "lord harrow", "harrow", "victim", "lord", "dead man"),
          "study", "", on_examine="body"),  # description comes from the variant
    Thing("desk", "oak desk", ("desk", "oak desk", "drawer", "desk drawer", "heavy oak desk"), "study",
          "A heavy oak desk with one deep drawer.", container=True, closed=True, locked=True, key="brass_key"),
    Thing("will", "will", ("will", "testament", "last will", "document"), "desk",
          "Lord Harrow's will, freshly amended in his cramped hand.", portable=True, text="", on_read="will"),
    _box("sideboard", "sideboard", ("sideboard", "mahogany sideboard", "cupboard"), "dining",
         "A mahogany sideboard with two deep doors."),
    _box("dresser", "dresser", ("dresser", "kitchen dresser", "pike's dresser", "mrs pike's dresser"), "kitchen",
         "Mrs. Pike's dresser, where the cook keeps her things."),
    _box("flour_bin", "flour bin", ("flour bin", "bin", "tin", "flour", "tin bin"), "pantry",
         "A big tin bin of flour with a dented lid."),
    _box("seed_box", "seed box", ("seed box", "box", "wooden box", "wooden seed box", "seeds"), "greenhouse",
         "A wooden seed box on the potting bench."),
    _box("tool_chest", "tool chest", ("tool chest", "chest", "battered chest", "battered tool chest"), "shed",
         "A battered tool chest, its lid scarred by years of use."),
    _box("locker", "locker", ("locker", "fenn's locker", "tom fenn's locker"), "shed",
         "Tom Fenn's locker, painted green long ago."),
    _box("wardrobe", "wardrobe", ("wardrobe", "painted wardrobe", "closet"), "guest",
         "A wardrobe painted with roses, holding Clara's things."),
    _box("trunk", "trunk", ("trunk", "greaves's trunk", "mr greaves's trunk"), "servants",
         "Mr. Greaves's travelling trunk."),
)

SUSPECTS: dict[str, Suspect] = {s.id: s for s in [
    Suspect("clara", "Clara Harrow", ("clara", "clara harrow", "miss harrow", "niece", "the niece"), "wardrobe"),
    Suspect("greaves", "Mr. Greaves", ("greaves", "mr greaves", "butler", "the butler"), "trunk"),
    Suspect("fenn", "Tom Fenn", ("fenn", "tom", "tom fenn", "gardener", "the gardener"), "locker"),
    Suspect("pike", "Mrs. Pike", ("pike", "mrs pike", "cook", "the cook"), "dresser"),
]}

_WEAPON_EXAMINE = "weapon_examined"

VARIANTS: dict[str, Variant] = {v.name: v for v in [
    Variant(
        name="clara", killer="clara",
        cause="His lips are tinged blue; the sherry glass by his hand smells of bitter almonds. He was poisoned.",
        letter="...the sherry did its work at last. I hid the vial in the seed box in the greenhouse, where "
               "nobody looks before spring. Burn this. - C.",
        will="I revoke every bequest to my niece, Clara Harrow, whose gambling debts have shamed this house.",
        weapon=Thing("vial", "glass vial", ("glass vial", "vial", "bottle", "poison", "poison vial"), "seed_box",
                     "A chemist's vial, nearly empty and smelling of bitter almonds. The label reads "
                     "'Marlow and Sons, Chemists - for Miss C. Harrow'.",
                     portable=True, on_take="weapon", on_examine=_WEAPON_EXAMINE),
        evidence=Thing("glove", "lace glove", ("lace glove", "glove", "gloves"), "wardrobe",
                       "A lady's lace glove, stained at the fingertips and smelling of bitter almonds.",
                       portable=True, on_take="evidence"),
        hiding_place="seed_box",
    ),
    Variant(
        name="greaves", killer="greaves",
        cause="A deep wound at the back of his skull: he was struck from behind with something heavy.",
        letter="...it is done, and with his own candlestick. I put it in the tool chest in the shed, so the "
               "gardener will take the blame. Burn this. - G.",
        will="I revoke every bequest to my butler, Mr. Greaves, whom I caught selling the family silver.",
        weapon=Thing("candlestick", "brass candlestick", ("brass candlestick", "candlestick", "candle stick"),
                     "tool_chest",
                     "Heavy, dented at the base and darkly stained. It smells of the silver polish only the "
                     "butler uses.", portable=True, on_take="weapon", on_examine=_WEAPON_EXAMINE),
        evidence=Thing("cuff", "bloodied cuff", ("bloodied cuff", "cuff", "shirt cuff", "starched cuff"), "trunk",
                       "A starched shirt cuff of the kind a butler wears, spotted with dried blood.",
                       portable=True, on_take="evidence"),
        hiding_place="tool_chest",
    ),
    Variant(
        name="fenn", killer="fenn",
        cause="A single stab wound below the ribs, made by a short, curved blade.",
        letter="...he will not turn me off now. The knife is buried in the flour bin in the pantry; the cook "
               "never digs that deep. Burn this. - T.",
        will="I revoke the cottage promised to my gardener, Tom Fenn, and dismiss him without a reference.",
        weapon=Thing("knife", "pruning knife", ("pruning knife", "knife", "blade", "curved knife"), "flour_bin",
                     "A short, curved gardener's blade. Green sap and blood have dried together in the hinge.",
                     portable=True, on_take="weapon", on_examine=_WEAPON_EXAMINE),
        evidence=Thing("boots", "muddy boots", ("muddy boots", "boots", "boot", "work boots"), "locker",
                       "Heavy work boots caked with garden mud, the same mud that is tracked across the study.",
                       portable=True, on_take="evidence"),
        hiding_place="flour_bin",
    ),
    Variant(
        name="pike", killer="pike",
        cause="Dark bruises ring his throat: he was strangled with a cord.",
        letter="...thirty years I cooked for him, and he meant to turn me out. The cord is in the sideboard in "
               "the dining room until the house is quiet. Burn this. - P.",
        will="I revoke the pension promised to my cook, Mrs. Pike, and give her notice to leave this house.",
        weapon=Thing("cord", "curtain cord", ("curtain cord", "cord", "rope", "silk cord"), "sideboard",
                     "A silk curtain cord, twisted and frayed, dusted with flour at one end.",
                     portable=True, on_take="weapon", on_examine=_WEAPON_EXAMINE),
        evidence=Thing("apron", "torn apron", ("torn apron", "apron"), "dresser",
                       "A cook's apron with a fresh tear; a silk thread is caught in it.",
                       portable=True, on_take="evidence"),
        hiding_place="sideboard",
    ),
]}

#: Every noun the parser knows, in any variant (so an unknown word never reveals which variant is on).
VOCABULARY: frozenset[str] = frozenset(
    word
    for things in (FIXED_THINGS, *((v.weapon, v.evidence) for v in VARIANTS.values()))
    for t in things for alias in t.aliases for word in alias.split()
) | frozenset(word for s in SUSPECTS.values() for alias in s.aliases for word in alias.split())


def things_for(variant: Variant) -> dict[str, Thing]:
    """The objects of one case: fixed things with the variant's texts filled in, plus weapon and evidence."""
    out: dict[str, Thing] = {}
    for t in FIXED_THINGS:
        if t.id == "letter":
            t = replace(t, text=variant.letter)
        elif t.id == "will":
            t = replace(t, text="The Last Will of Alden Harrow, amended yesterday: '" + variant.will + "'")
        elif t.id == "body":
            t = replace(t, description=variant.cause)
        out[t.id] = t
    out[variant.weapon.id] = variant.weapon
    out[variant.evidence.id] = variant.evidence
    return out


def _check() -> None:
    """Cheap consistency checks of the static data, run at import."""
    for r in ROOMS.values():
        for d, dest in r.exits.items():
            assert d in DIRECTIONS and dest in ROOMS, (r.id, d, dest)
    for v in VARIANTS.values():
        things = things_for(v)
        assert v.killer in SUSPECTS and v.hiding_place in things and things[v.hiding_place].container
        assert v.evidence.location == SUSPECTS[v.killer].space and v.weapon.location == v.hiding_place
        for t in things.values():
            assert t.location in ROOMS or t.location in things, (t.id, t.location)


_check()
