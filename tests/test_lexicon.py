"""The signal lexicon (data/lexicon/*.yml): schema, every example found, harmless sentences not flagged."""
from __future__ import annotations

from pathlib import Path

import pytest
import spacy
import yaml

from bot import DATA_DIR
from bot.triage.engine import Triage
from bot.triage.forms import expand_word, lemma_forms, verb_forms
from bot.triage.lexicon import REQUIRED_GROUPS, Lexicon
from bot.triage.tiers import BYSTANDER, CHILD, PERPETRATOR, VICTIM, Tier

LEXICON = DATA_DIR / "lexicon"


@pytest.fixture(scope="module")
def nlp():
    return spacy.load(Path(__file__).resolve().parent.parent / "models" / "spacy_nl")


@pytest.fixture(scope="module")
def triage(nlp) -> Triage:
    return Triage(Lexicon.load(LEXICON, nlp.vocab, lemma_forms()))


def signals():
    for path in sorted(LEXICON.glob("*.yml")):
        for signal in yaml.safe_load(path.read_text(encoding="utf-8")).get("signals") or []:
            yield pytest.param(signal, id=f"{path.stem}:{signal['id']}")


def test_schema() -> None:
    ids = []
    for path in sorted(LEXICON.glob("*.yml")):
        content = yaml.safe_load(path.read_text(encoding="utf-8"))
        assert set(content) <= {"groups", "signals", "must_not_match"}, path.name
        for signal in content.get("signals") or []:
            assert set(signal) <= {"id", "tier", "all", "window", "weak", "speaker", "unless", "unless_near", "can_be_now", "at_end", "past_tier", "example"}
            assert signal["tier"] in {t.name for t in Tier}
            assert signal["example"], signal["id"]
            ids.append(signal["id"])
    assert len(ids) == len(set(ids)), "signal ids must be unique"


def test_required_groups_exist(nlp) -> None:
    lexicon = Lexicon.load(LEXICON, nlp.vocab, lemma_forms())
    assert set(REQUIRED_GROUPS) <= set(lexicon.groups)


@pytest.mark.parametrize("signal", signals())
def test_every_signal_finds_its_example(signal, triage, nlp) -> None:
    assessment = triage.assess(nlp(signal["example"]))
    found = {e["signal"] for e in assessment.evidence if e["source"] == "lexicon"}
    assert signal["id"] in found, assessment.evidence
    assert assessment.risk >= Tier.parse(signal["tier"]) or signal.get("weak")


def must_not_match():
    content = yaml.safe_load((LEXICON / "context.yml").read_text(encoding="utf-8"))
    return content["must_not_match"]


@pytest.mark.parametrize("text", must_not_match())
def test_harmless_sentences_are_not_flagged(text, triage, nlp) -> None:
    assert triage.assess(nlp(text)).risk < Tier.tension


@pytest.mark.parametrize(
    "text, speaker",
    [
        ("ik heb hem geslagen", PERPETRATOR),
        ("gisteren heb ik mijn dochter een klap gegeven", PERPETRATOR),
        ("ik heb mijn zoon geslagen en ik schaam me", PERPETRATOR),
        ("hij heeft me geslagen en ik schaam me", VICTIM),
        ("hij slaat me", VICTIM),
        ("ik word door mijn man geslagen", VICTIM),
        ("papa slaat mij", CHILD),
        ("ik ben 12 en mijn moeder slaat me met een riem", CHILD),
        ("de buurman slaat zijn kinderen", BYSTANDER),
        ("ik zag dat hij haar sloeg", BYSTANDER),
        ("laatst greep hij haar zo hard vast dat ik het vanaf de bank hoorde", BYSTANDER),
        ("ik stalk mn ex een beetje denk ik", PERPETRATOR),
        ("mijn stiefvader komt op mijn kamer en dan moet ik dingen doen die ik niet wil. mama weet het niet", CHILD),
        ("pa heeft me vorige week geschopt toen ik op de grond lag. ben 13", CHILD),
        ("heb mn vriendin tegen de muur geduwd toen ze mn telefoon pakte. was 1 keer", PERPETRATOR),
        ("hij zei dat ik vandaag niet levend thuiskom", VICTIM),
        ("ik laat mn kinderen vaak alleen thuis als ik in het cafe ga drinken. de oudste is 7", PERPETRATOR),
        ("ze heeft de sleutels verstopt zodat ik niet weg kan", VICTIM),
        ("ben zwanger en mn vriend heeft me in mn buik geschopt. ik zit nu bij mn moeder", VICTIM),
        ("hij knijpt soms mn keel dicht als we ruzie hebben", VICTIM),
        ("opa hier. mn zoon schudt zn baby als die huilt", BYSTANDER),
        ("ik weet zeker dat de vriend van mijn zus haar schopt", BYSTANDER),  # the 'ik' before 'dat' is in another clause
        ("ik ben bang dat ik mijn zoon sla als hij zo doorgaat", PERPETRATOR),  # ... the one after it is not
        ("ik denk dat ik haar te hard heb geduwd", PERPETRATOR),
        ("sinds opa dood is slaat mama mij als ze gedronken heeft", CHILD),  # a child says 'opa' too ...
        ("ik ben oma en mijn schoonzoon slaat mijn dochter", BYSTANDER),  # ... a grandparent says who they are
    ],
)
def test_speaker(text, speaker, triage, nlp) -> None:
    assessment = triage.assess(nlp(text))
    assert assessment.risk >= Tier.violence
    assert assessment.speaker == speaker


@pytest.mark.parametrize(
    "text, tier",
    [
        ("hij slaat de bal ver", Tier.none),
        ("de spanning bij de finale was enorm", Tier.none),
        ("ik vermoord ze nog eens haha", Tier.stress),
        ("in de film schiet hij iedereen dood", Tier.none),
        ("ik zou hem nooit slaan maar ik word wel heel boos", Tier.tension),
        ("hij staat nu met een mes in de keuken", Tier.acute),
        ("hij slaat haar op dit moment", Tier.acute),
        ("ik wil niet meer leven", Tier.self_harm),
        ("ik heb net alle pillen genomen", Tier.acute),
        ("de spanningen lopen hier hoog op", Tier.tension),
        ("mijn peuter slaat mij als hij boos is", Tier.stress),
        ("de baby huilde en toen sloeg hij haar", Tier.violence),
        ("de baby huilde en hij sloeg mij", Tier.violence),
        ("ik spaar al een tijdje mijn slaappillen op", Tier.self_harm),
        ("vorige zomer heb ik pillen geslikt en nu denk ik er weer aan", Tier.self_harm),
        ("ik heb mezelf weer in mijn gezicht geslagen", Tier.self_harm),
        ("hij slaat me de hele tijd", Tier.violence),  # "de tijd" was a harmless context ("de tijd doden")
        ("hij schopt me als ik met mijn telefoon op de bank zit", Tier.violence),
        ("ik hoor door de telefoon dat de vriend van mn ex haar aan het slaan is", Tier.acute),
        ("mijn vader is dronken en zit met zijn jachtgeweer aan tafel", Tier.acute),
        ("nu zegt hij dat hij haar gaat vinden en afmaken", Tier.violence),
        ("hij drukte een kussen op mijn gezicht", Tier.violence),
        ("ik wil mezelf doodmaken", Tier.self_harm),
        ("mijn papa is vorig jaar dood gegaan en ik wil bij hem zijn", Tier.self_harm),
        ("mijn zoon belde dat hij het niet meer trekt en er wel een manier vindt", Tier.self_harm),
        ("ik heb de deur dichtgesmeten en ben naar buiten gelopen om af te koelen", Tier.tension),
        ("mn zoon heeft op zn laptop gezocht hoe je een strop maakt", Tier.none),  # research: the classifier reads self-harm
        ("hij knijpt soms mn keel dicht als we ruzie hebben", Tier.violence),  # a habit, not right now
        ("hij knijpt nu mijn keel dicht", Tier.acute),
        ("mijn zoon heeft op snap gezet dat iedereen beter af is zonder hem. zn moeder reageert niet op mn berichten", Tier.self_harm),
        ("mijn dochter vertelde net dat ze zichzelf pijn doet", Tier.self_harm),
        ("sinds mijn man dood is wil ik hem achterna", Tier.self_harm),
        ("hij stormde de kamer uit en ik bleef hem achterna roepen", Tier.none),
        ("vanmiddag zo hard aan zn arm gerukt dat ie m niet goed meer optilt", Tier.violence),
        ("ik zag op het nieuws iets over zelfmoord en nu denk ik er zelf ook aan", Tier.self_harm),
        # a door, the neighbours' knock for quiet and a threat to run away are tension, not violence ...
        ("mn dochter slaat de deuren dicht en gilt dat ze me haat", Tier.tension),
        ("mn puber slaat met deuren en scheldt me uit", Tier.tension),
        ("we schreeuwden zo hard dat de buren op de muur bonkten", Tier.tension),
        ("ruzie met mn dochter, ze dreigt weg te lopen en ik heb haar uitgescholden", Tier.tension),
        # ... but only where those words touch the violence words
        ("hij smeet de deur dicht en sloeg me in mijn gezicht", Tier.violence),
        ("hij sloeg met de deur en toen sloeg hij mij", Tier.violence),
        ("hij sloeg haar met de deur tegen haar hoofd", Tier.violence),
        ("ik hoor de buren schreeuwen en bonken tegen de muur", Tier.violence),
        ("hij dreigt mij als ik probeer te vertrekken", Tier.violence),
        ("ze smeet de deur dicht en gooide een bord naar mijn hoofd", Tier.violence),  # a door elsewhere in the sentence cancelled this
        # things thrown on the floor are no throw at someone; a person thrown down is
        ("mijn zoon gooit zijn eten op de grond en ik word gek", Tier.none),
        ("ze smeet haar bord op de grond omdat ze geen broccoli lust", Tier.none),
        ("ik werd op de grond gegooid", Tier.violence),
        ("hij smeet mij door de kamer", Tier.violence),
        # a school topic, a heart attack in the past or as an idiom, a parent's question about a concussion ...
        ("mijn dochter moet een werkstuk maken over huiselijk geweld", Tier.none),
        ("mn dochter moet een spreekbeurt houden over zelfmoord bij jongeren", Tier.none),
        ("mijn vader heeft een hartaanval gehad en ligt in het ziekenhuis", Tier.none),
        ("die pubers gaan me nog een hartaanval bezorgen", Tier.none),
        ("hoe lang moet ik opletten voor een hersenschudding", Tier.none),
        ("op tv was een docu over kindermishandeling", Tier.none),
        ("voor begrijpend lezen moet ik uitleggen wat het woord mishandeling betekent", Tier.none),
        ("hij gilde alsof we hem vermoordden bij de kinderarts", Tier.none),
        ("mn moeder vermoordt me als ze ziet dat ik een piercing heb lmao", Tier.stress),
        ("ik durf het bijna niet te zeggen 🙈 maar hij sloeg me gisteren", Tier.violence),  # shame is no joke
        # ... but not when the words tell of danger
        ("hij vermoordt me als hij weet dat ik hier ben", Tier.violence),
        ("ze schreef in haar werkstuk dat ze aan zelfmoord denkt", Tier.self_harm),
        ("er is huiselijk geweld bij ons thuis", Tier.violence),
        ("ik denk dat mijn man een hartaanval heeft", Tier.acute),
        ("ze had een hersenschudding nadat hij haar duwde", Tier.violence),
        # a laugh taken back before the danger words is no joke; a joke followed by 'maar serieus' and a question is
        ("haha nee serieus, hij slaat me elke avond", Tier.violence),
        ("lol. nee echt, hij heeft me gisteren geschopt", Tier.violence),
        ("ik vermoord mn vriend nog eens 😂 maar serieus, hoe verdelen jullie de klusjes", Tier.stress),
        # a teething baby's bite, a child without food while ill, bruises from play, a heart attack cared for ...
        ("hij krijgt tandjes en bijt me steeds als ik hem voed", Tier.none),
        ("mag een kind een dag zonder eten bij griep of moet ik naar de dokter", Tier.none),
        ("ze heeft overal blauwe plekken van het skaten", Tier.none),
        ("opa kreeg gisteren een hartaanval maar gelukkig gaat het goed", Tier.none),
        # ... but not a bite by a partner, food kept from a child, bruises from someone, a heart attack now
        ("mijn vriend bijt me in mijn nek als ik nee zeg", Tier.violence),
        ("ze laat de kinderen de hele dag zonder eten zitten", Tier.violence),
        ("ze heeft blauwe plekken van hem op haar armen", Tier.violence),
        ("mijn vader heeft volgens mij een hartaanval, hij grijpt naar zijn borst", Tier.acute),
        # a first-aid question about what could happen is no emergency; the same words about my child now are
        ("wat doe je als een kind een vaatwastablet in zn mond stopt", Tier.none),
        ("stel dat de baby blauwe lippen krijgt, wat moet ik dan doen", Tier.none),
        ("mijn dochter heeft een vaatwastablet ingeslikt", Tier.acute),
        ("wat moet ik doen, hij ademt niet meer", Tier.acute),
        # abuse and control told softly
        ("de vriend van mijn moeder heeft me aangeraakt toen ze weg was", Tier.violence),
        ("hij heeft mij nooit aangeraakt, dat niet", Tier.none),
        ("er hangt een camera in de gang zodat hij kan zien wat ik doe", Tier.violence),
    ],
)
def test_context_changes_the_tier(text, tier, triage, nlp) -> None:
    assert triage.assess(nlp(text)).risk == tier


def test_inflection_and_typos() -> None:
    assert {"mept", "mepte", "gemept"} <= verb_forms("meppen")
    assert {"bedreigt", "bedreigd"} <= verb_forms("bedreigen")
    assert "vermoort" in expand_word("vermoorden")
    assert "zelfmord" in expand_word("zelfmoord")
    assert "geslage" in expand_word("slaan", ["geslagen"])


def test_a_listed_real_word_is_no_typo(nlp) -> None:
    """`not_typos` in context.yml: 'gestopt' is a word of its own, not a typo of 'gestompt'."""
    lexicon = Lexicon.load(LEXICON, nlp.vocab, lemma_forms())
    hit_forms = set().union(*(forms for phrase in lexicon.groups["hit"] for forms in phrase))
    assert "gestompt" in hit_forms and "gestopt" not in hit_forms
    assert "not_typos" not in lexicon.groups


@pytest.mark.parametrize(
    "confidence, tier",
    [(0.9, Tier.violence), (0.6, Tier.tension)],
)
def test_a_game_word_caps_only_an_unsure_classifier(confidence, tier, triage, nlp) -> None:
    """'Een spelletje' can be a euphemism for abuse: a confident violence intent is not capped by it."""
    text = "mijn kleindochter vertelde dat papa een spelletje met haar doet in bad en dat ze het niet mag vertellen"
    ranking = [{"name": "violence_bystander", "confidence": confidence}, {"name": "ask_tip", "confidence": 1 - confidence}]
    assert triage.assess(nlp(text), ranking).risk == tier


def test_accidents_and_bites_are_no_violence_but_a_bite_by_a_partner_is(triage, nlp) -> None:
    assert triage.assess(nlp("dochter beet op haar tong toen ze van de glijbaan viel")).risk < Tier.tension
    assert triage.assess(nlp("bloedneus bij mn zoon van 7, hoofd achterover toch?")).risk < Tier.tension
    assert triage.assess(nlp("hij beet me in mijn arm toen ik weg wilde")).risk >= Tier.violence
    assert triage.assess(nlp("de vorige keer kreeg ik een bloedneus van papa")).risk >= Tier.violence


def test_no_word_twice_in_a_group() -> None:
    for path in sorted(LEXICON.glob("*.yml")):
        for name, entries in (yaml.safe_load(path.read_text(encoding="utf-8")).get("groups") or {}).items():
            words = [str(next(iter(e))) if isinstance(e, dict) else str(e) for e in entries]
            assert len(words) == len(set(words)), f"{path.name}: {name} lists a word twice"


def test_a_sure_child_reading_makes_a_victim_a_child_writer(triage, nlp) -> None:
    text = "me moeders vriend gooide gister een stoel naar me en ik heb een bult op mn hoofd"
    sure = [{"name": "violence_child", "confidence": 0.95}, {"name": "violence_victim", "confidence": 0.05}]
    unsure = [{"name": "violence_victim", "confidence": 0.6}, {"name": "violence_child", "confidence": 0.4}]
    assert triage.assess(nlp(text), sure).speaker == CHILD
    assert triage.assess(nlp(text), unsure).speaker == VICTIM


def test_a_joke_in_another_sentence_lowers_a_weak_hit_only_when_the_classifier_sees_no_danger(triage, nlp) -> None:
    text = "ik vermoord je als je mn chips opeet zei ik tegen mn man. raad wie er nu een lege zak heeft. lol"
    calm = [{"name": "chitchat", "confidence": 0.9}]
    alarmed = [{"name": "violence_perpetrator", "confidence": 0.9}]
    assert triage.assess(nlp(text), calm).risk == Tier.stress
    assert triage.assess(nlp(text), alarmed).risk >= Tier.violence
    assert triage.assess(nlp("hij heeft me gisteren geslagen. ik weet niet wat ik moet doen")).risk >= Tier.violence


def test_a_sure_acute_reading_is_not_moved_to_the_past_by_a_word_like_toen(triage, nlp) -> None:
    text = "hij ging onder water in bad toen ik een handdoek pakte, hij is helemaal stil en wit"
    sure = [{"name": "acute", "confidence": 0.98}]
    unsure = [{"name": "acute", "confidence": 0.7}]
    assert triage.assess(nlp(text), sure).risk == Tier.acute
    assert triage.assess(nlp("vorige week stond hij met een mes in de keuken"), unsure).risk == Tier.violence
    # a state that lasts until now keeps an unsure 'right now' reading, even with a word of the past
    locked = "ze zit al een uur op slot in de badkamer en ik hoor niks meer. gisteren zei ze dat ze niet meer wil"
    assert triage.assess(nlp(locked), unsure).risk == Tier.acute


def test_a_sure_bystander_reading_overrules_a_perpetrator_found_in_the_words(triage, nlp) -> None:
    text = "ik ben oma, mijn schoonzoon schreeuwt tegen de kleinkinderen en slaat ze met de vlakke hand"
    sure = [{"name": "violence_bystander", "confidence": 0.95}]
    unsure = [{"name": "violence_bystander", "confidence": 0.6}, {"name": "violence_perpetrator", "confidence": 0.4}]
    assert triage.assess(nlp("ik heb mijn zoon geslagen"), unsure).speaker == PERPETRATOR
    assert triage.assess(nlp(text), unsure).speaker == PERPETRATOR  # the words alone mislead here (no 'en' before the new subject)
    assert triage.assess(nlp(text), sure).speaker == BYSTANDER
    assert triage.assess(nlp(text.replace("oma,", "oma en")), unsure).speaker == BYSTANDER  # 'en mijn schoonzoon' starts a clause


def test_a_sure_perpetrator_reading_overrules_a_bystander_found_in_the_words_but_a_victim_only_when_surer(triage, nlp) -> None:
    """'mijn dochter zag hoe ik ...' reads as a witness; a victim sent to help for perpetrators is hurt most."""
    seen = "mijn dochter zag hoe ik haar moeder tegen de kast duwde"
    hit = "ik ben 22 en mijn vriend slaat me soms"
    sure = [{"name": "violence_perpetrator", "confidence": 0.75}, {"name": "violence_bystander", "confidence": 0.25}]
    unsure = [{"name": "violence_perpetrator", "confidence": 0.6}, {"name": "violence_bystander", "confidence": 0.4}]
    assert triage.assess(nlp(seen), unsure).speaker == BYSTANDER
    assert triage.assess(nlp(seen), sure).speaker == PERPETRATOR
    assert triage.assess(nlp(hit), sure).speaker == VICTIM


def test_an_adult_age_keeps_a_sure_child_reading_from_making_a_child_writer(triage, nlp) -> None:
    child_reading = [{"name": "violence_child", "confidence": 0.9}, {"name": "violence_victim", "confidence": 0.1}]
    assert triage.assess(nlp("ik ben 22 en mijn vriend slaat me soms"), child_reading).speaker == VICTIM
    assert triage.assess(nlp("ik ben 14 en mijn vriend slaat me soms"), child_reading).speaker == CHILD
    assert triage.assess(nlp("ik ben 6 maanden zwanger en hij schopte tegen mn buik"), child_reading).route != "kindertelefoon"


def test_a_form_listed_as_a_real_word_is_not_generated(nlp) -> None:
    """'ben' (ik ben) is no verb form of the noun 'benen': 'ik ben 23' holds no body part."""
    lexicon = Lexicon.load(LEXICON, nlp.vocab, lemma_forms())
    found = lexicon.find(nlp("ik ben 23 en ben naar buiten gelopen"))
    assert "body_part" not in found and "jump_now" not in found


@pytest.mark.parametrize(
    "text, age",
    [
        ("mijn broer heeft leukemie en iedereen vraagt naar hem. ik ben er ook nog. 12", 12),
        ("ik vind het zo stom als hij zo boos is (12 jaar)", 12),
        ("ze maken ruzie via mij. 13 jr", 13),
        ("hoe kan ik dat stoppen. groep 8", 12),
        ("mijn kinderen zijn 6 en 9", None),
        ("het is nu dag 3", None),
        ("ik heb 3 kinderen. de oudste is 8", None),
        ("ik ben 6 maanden zwanger en hij schopte tegen mn buik", None),
        ("ik ben 15 weken zwanger", None),
        # other ways to state an age, and a school year
        ("13 ben ik en mn moeder heeft een nieuwe vriend", 13),
        ("ik (15) moet elke middag op mn broertjes passen", 15),
        ("elke keer als opa op bezoek is wordt papa heel boos. ik zit in groep 6", 10),
        ("ik ben zo zenuwachtig. zit in de brugklas", 12),
        ("ik zit in 2 havo en mn ouders schreeuwen", 13),
        ("ik heb geen vrienden op mijn nieuwe school. 1e klas", 12),
        ("mijn dochter zit in groep 8", None),
        ("ik zit in de 3e week van mijn verlof", None),
        ("ik zit in de auto", None),
    ],
)
def test_a_stated_age_or_school_year(text, age, nlp) -> None:
    assert Triage._stated_age(nlp(text)) == age


@pytest.mark.parametrize(
    "text, route",
    [
        ("mn ouders schreeuwen elke avond tegen elkaar en ik zet mn koptelefoon op", "kindertelefoon"),
        ("papa en mama schreeuwen de hele tijd en ik zit met mn broertje op mijn kamer", "kindertelefoon"),
        ("mn ouders schreeuwen tegen elkaar en mijn man zegt dat ik moet kiezen", "luisterlijn"),  # an adult writes
        ("elke zondag bij mn ouders gaat het mis, mn vader zegt iets over mn opvoeding en dan ontploft het", "luisterlijn"),
        # a quarrel with one's own parent is a child's, unless an adult's life shows
        ("mn moeder en ik schreeuwen alleen nog tegen elkaar en ik word zo boos", "kindertelefoon"),
        ("ik had ruzie met papa en we schreeuwden zo hard tegen elkaar", "kindertelefoon"),
        ("mn moeder en ik hebben steeds ruzie over de opvoeding en ik word zo boos", "luisterlijn"),
        ("mijn stiefzoon en ik schreeuwen tegen elkaar en zijn moeder kiest altijd zijn kant", "luisterlijn"),
    ],
)
def test_a_child_writing_at_the_tension_tier_goes_to_the_kindertelefoon(text, route, triage, nlp) -> None:
    assessment = triage.assess(nlp(text))
    assert assessment.risk == Tier.tension and assessment.route == route


@pytest.mark.parametrize(
    "intent, confidence, tier",
    [
        ("violence_child", 0.7, Tier.stress),
        ("violence_child", 0.9, Tier.violence),
        ("self_harm", 0.4, Tier.stress),
        ("self_harm", 0.7, Tier.self_harm),  # a self-harm reading at or above `confirm` is never capped: a miss costs most
        ("acute", 0.4, Tier.stress),
        ("acute", 0.7, Tier.acute),  # nor an acute one: first aid is where a child chokes or swallows pills
    ],
)
def test_a_care_topic_caps_only_an_unsure_classifier(intent, confidence, tier, triage, nlp) -> None:
    """A child's illness, first aid or a school assignment make the classifier read danger; there it is not trusted below 0.8
    (violence) or below `confirm` (self-harm, acute)."""
    text = "kun je ibuprofen en paracetamol tegelijk geven bij een kind met oorpijn"
    rest = (1 - confidence) / 2
    ranking = [{"name": intent, "confidence": confidence}, {"name": "ask_tip", "confidence": rest}, {"name": "tip_sleep", "confidence": rest}]
    assert triage.assess(nlp(text), ranking).risk == tier
    with_a_signal = "ik heb koorts en ik heb al mijn pillen opgespaard"
    assert triage.assess(nlp(with_a_signal), ranking).risk >= Tier.self_harm


def test_grief_is_no_care_topic(triage, nlp) -> None:
    """Grief was tried as a care topic and taken back: a self-harm message on test set XF was lost."""
    ranking = [{"name": "self_harm", "confidence": 0.7}, {"name": "ask_tip", "confidence": 0.3}]
    assert triage.assess(nlp("sinds de begrafenis van opa is alles zwart en ik zie niemand meer"), ranking).risk >= Tier.self_harm


@pytest.mark.parametrize("confidence, tier", [(0.4, Tier.tension), (0.47, Tier.violence)])
def test_a_classifier_alone_needs_a_word_of_harm_below_confirm(confidence, tier, triage, nlp) -> None:
    """Below `confirm` (0.45) a violence reading without any word of harm counts as tension; at or above it, it stands."""
    text = "het is thuis niet goed en ik weet niet wat ik moet doen"
    rest = (1 - confidence) / 2  # the rest split, so the ranking is in Rasa's order and the violence intent comes first
    ranking = [{"name": "violence_victim", "confidence": confidence}, {"name": "feeling_overwhelmed", "confidence": rest}, {"name": "ask_tip", "confidence": rest}]
    assert triage.assess(nlp(text), ranking).risk == tier


@pytest.mark.parametrize(
    "violence, rest, tier",
    [((0.30, 0.24, 0.19), (0.17, 0.10), Tier.violence), ((0.30, 0.08, 0.05), (0.29, 0.28), Tier.tension)],  # summed 0.73 / 0.43
)
def test_a_first_ranked_violence_intent_counts_with_the_summed_reading(violence, rest, tier, triage, nlp) -> None:
    """The classifier ranks a violence intent first at 0.30: the gate judges the summed violence reading, so 0.73
    over three intents stands without a word of harm (session 12: it was judged on 0.30 and became tension), 0.43 does not."""
    text = "ik moet altijd ja zeggen als hij wil, ook als ik niet wil. anders is hij dagen chagrijnig"
    names = ("violence_bystander", "violence_child", "violence_victim", "out_of_scope", "ask_tip")
    ranking = [{"name": n, "confidence": c} for n, c in zip(names, violence + rest)]
    assert triage.assess(nlp(text), ranking).risk == tier


def test_danger_summed_below_a_harmless_first_intent_needs_a_word_of_harm(triage, nlp) -> None:
    """When the classifier's first reading is harmless and danger only adds up from the intents below it, the
    reading needs a word of harm like an unsure one ('we hebben een taart gebakken' spread over four danger intents)."""
    ranking = [
        {"name": "out_of_scope", "confidence": 0.36},
        {"name": "violence_bystander", "confidence": 0.2},
        {"name": "violence_victim", "confidence": 0.18},
        {"name": "self_harm", "confidence": 0.16},
        {"name": "ask_tip", "confidence": 0.1},
    ]
    assert triage.assess(nlp("vandaag de kamer van mn zoon leeggeruimd, zn trui heb ik gehouden"), ranking).risk == Tier.tension
    assert triage.assess(nlp("hij bepaalt gewoon alles en pakt mijn bankpas af"), ranking).risk >= Tier.violence
