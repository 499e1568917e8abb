#!/usr/bin/env python3
"""Generate `crise-rappel.jsonl`: a fictional morning of mentions about a product recall.

Everything here is invented: the brand "Laiterie Duval", its people, its customers, its lots, what the press,
the authorities, the employees and the distributors say. Handles of real outlets and public bodies
(@franceinfo, @Sante_Gouv, @carrefour_fr …) are used only as placeholders, so that the demo playbook's
audience rules have something to recognise; none of these posts was ever published by them.

The story, 2026-03-12 (timestamps in UTC; local time in France is UTC+1):

    06:00–07:30  calm baseline: a few everyday mentions of the brand per 5 minutes
    07:30–10:00  the spike: strange taste, a sick child, questions, boycott calls, a rumour that all the
                 production is contaminated; press, authorities, employees and distributors join in;
                 retweets ("RT @franceinfo: …") repeat the popular posts verbatim
    10:00–12:00  slow decline while the brand's holding statement is relayed

The last three lines are deliberately malformed (a text under the wrong field, a date that is not a date,
a line cut in the middle) so that the demo shows the quarantine.

Standard library only, deterministic (`random.Random(2026)`): running it again rewrites the same file.

    python data/demo/make_crisis_demo.py            # writes data/demo/crise-rappel.jsonl and checks it
    python data/demo/make_crisis_demo.py --check    # only checks the existing file
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import unicodedata
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from random import Random

SEED = 2026
HERE = Path(__file__).resolve().parent
OUTPUT = HERE / "crise-rappel.jsonl"
START = datetime(2026, 3, 12, 6, 0, tzinfo=UTC)
WINDOW = timedelta(minutes=5)
CHANNELS = ("twitter", "facebook", "instagram", "presse", "forum", "linkedin", "intranet")
URL_PREFIXES = ("https://example.org/", "https://exemple.fr/")
MALFORMED = 3  # the last lines of the file

# --- the playbook's audience rules (playbooks/rappel-produit.yaml), so the generator can check its mix ------
# Consumer handles and texts must not trip them by accident ("info" in a handle makes a journalist).
AUTHOR_PARTS = {
    "journalistes": ("info", "news", "journal", "presse", "actu", "radio", "tv", "media"),
    "autorites": ("gouv", "prefet", "prefecture", "ars_", "dgal", "dgccrf", "mairie"),
    "distributeurs": ("carrefour", "leclerc", "intermarche", "auchan", "monoprix", "systemeu"),
}
LISTED = {
    "journalistes": ("afpfr", "franceinfo", "francebleu", "leparisien", "bfmtv"),
    "autorites": ("agri_gouv", "sante_gouv", "rappelconso"),
}
CHANNEL_AUDIENCE = {"presse": "journalistes", "intranet": "salaries"}
ENTITIES = {"autorites": ("DGAL", "DGCCRF", "ARS", "Santé publique France", "Rappel Conso")}
KEYWORDS = {
    "journalistes": ("selon nos informations", "selon nos infos", "contacté par", "a appris"),
    "autorites": ("communiqué officiel", "arrêté préfectoral"),
    "salaries": ("salarié", "salariée", "collègues", "en interne", "notre usine", "nos équipes"),
    "distributeurs": ("nos magasins", "nos rayons", "nos clients", "fournisseur"),
}
ORDER = ("journalistes", "autorites", "salaries", "distributeurs")
RETWEET = re.compile(r"^\W{0,3}RT\s+@(\w+)", re.IGNORECASE)


def fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.replace("’", "'"))
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch)).casefold()


def _phrase(term: str) -> re.Pattern[str]:
    words = [re.escape(fold(w)) + "[sx]?" for w in term.split()]
    return re.compile(r"(?<!\w)" + r"\s+".join(words) + r"(?!\w)")


KEYWORD_RES = {name: [_phrase(t) for t in terms] for name, terms in KEYWORDS.items()}
ENTITY_RES = {name: [re.compile(r"(?<![\w#@])" + re.escape(t) + r"(?!\w)") for t in terms]
              for name, terms in ENTITIES.items()}


def audience(record: dict) -> str:
    """The demo playbook's audience of a record, as far as plain rules can tell (no named-entity model)."""
    text, author = record.get("text", ""), record.get("author", "")
    rt = RETWEET.match(text)
    handle = fold(rt.group(1) if rt else author.lstrip("@"))
    for name in ORDER:
        if handle in LISTED.get(name, ()):
            return name
    for name in ORDER:
        if any(part in handle for part in AUTHOR_PARTS.get(name, ())):
            return name
    if record.get("channel") in CHANNEL_AUDIENCE:
        return CHANNEL_AUDIENCE[record["channel"]]
    for name in ORDER:
        if any(p.search(text) for p in ENTITY_RES.get(name, ())):
            return name
    folded = fold(text)
    for name in ORDER:
        if any(p.search(folded) for p in KEYWORD_RES.get(name, ())):
            return name
    return "clients"


# --- slots -------------------------------------------------------------------------------------------------

PLACES = ["Lyon"] * 5 + ["Saint-Étienne"] * 4 + ["Clermont-Ferrand"] * 3 + ["Roanne"] * 3 + [
    "Villeurbanne", "Vénissieux", "Montbrison", "Riom", "Firminy", "Vichy", "Caluire"]
SLOTS: dict[str, list[str]] = {
    "place": PLACES,
    "store_at": ["au Lidl", "au Carrefour Market", "au Super U", "à l'Intermarché", "au Leclerc", "à la Biocoop",
                 "au Monoprix", "à l'Auchan", "au Casino", "à la supérette", "au Spar"],
    "lot": ["L26061"] * 4 + ["L26062"] * 3 + ["L26058", "L26064"],
    "dlc": ["28/03", "28/03/2026", "29/03", "27/03", "28 mars"],
    "brand": ["Laiterie Duval", "Laiterie Duval", "@LaiterieDuval", "Duval"],
    "good": ["😋", "🥰", "👌", "❤️", "☀️", "🐄", "✨", "", "", ""],
    "bad": ["🤢", "🤮", "🤮", "😡", "😤", "😬", "🙄", "😢", ""],
    "worried": ["😟", "😰", "🙏", "😥", "😢", "😭", ""],
    "angry": ["😡", "🤬", "👎", "😤", ""],
    "tag": ["#rappelconso", "#LaiterieDuval", "#rappelconso #LaiterieDuval", "", "", ""],
    "many": ["une dizaine de", "une quinzaine de", "plusieurs dizaines de", "au moins douze", "de nombreux"],
    "n": ["2", "3", "4", "5"],
}


class Slots(dict):
    """`template.format_map(Slots(rng))`: each slot drawn once per template, from SLOTS."""

    def __init__(self, rng: Random, **fixed: str) -> None:
        super().__init__(fixed)
        self.rng = rng

    def __missing__(self, key: str) -> str:
        value = self.rng.choice(SLOTS[key])
        self[key] = value
        return value


# --- templates ---------------------------------------------------------------------------------------------

EVERYDAY_FR = [
    "Petit-déj avant le boulot : yaourt nature {brand} + miel de châtaignier {good}",
    "Les yaourts nature Laiterie Duval, c'est toute mon enfance {good} #LaiterieDuval",
    "Recette du jour : tzatziki maison avec le yaourt nature bio Laiterie Duval, concombre, ail, menthe. "
    "Simple et frais {good}",
    "Promo sur les yaourts Laiterie Duval {store_at} de {place}, j'ai fait le plein 😅",
    "Gâteau au yaourt pour le goûter des enfants, avec le pot Duval comme mesure évidemment {good}",
    "Est-ce que {brand} fait le nature bio en pot de 500 g ? Le 4 × 125 g part trop vite à la maison",
    "Mon fils de 2 ans ne mange que le yaourt nature Duval, impossible de changer de marque 😂",
    "Bol de yaourt nature Duval, granola, fruits rouges. Bonne journée tout le monde ☀️",
    "Ma grand-mère achetait déjà du Duval à {place}. Il y a des choses qui ne changent pas {good}",
    "Team yaourt nature sans sucre ✋ (Laiterie Duval, le seul qui soit vraiment crémeux)",
    "Marinade yaourt-citron pour le poulet de ce soir, yaourt nature bio {brand} bien sûr {good}",
    "Les nouveaux emballages carton de {brand}, enfin moins de plastique 👏",
    "Le yaourt nature Laiterie Duval avec une cuillère de confiture de ma mère, le bonheur {good}",
    "Jour de marché à {place}, et le stand de la Laiterie Duval toujours aussi sympa {good}",
    "Smoothie banane + yaourt nature bio Duval avant la course. On y va 🏃‍♀️",
    "Quelqu'un a testé le fromage blanc Laiterie Duval ? Le yaourt nature est top en tout cas",
    "Raita maison : yaourt nature {brand}, concombre, cumin. Parfait avec le curry d'hier soir",
    "Dans le frigo du bureau il ne reste plus que des yaourts Duval. Personne ne se plaint {good}",
    "Les yaourts Duval ont pris 20 centimes {store_at}. Tout augmente… mais je les prends quand même",
    "J'ai retrouvé la recette du gâteau au yaourt de mamie, version Laiterie Duval {good} #LaiterieDuval",
]
EVERYDAY_FORUM = [
    "Diversification bébé 8 mois : vous donnez quel yaourt nature ? On hésite avec celui de la Laiterie Duval",
    "[Cuisine] Quel yaourt pour une pâte à naan bien moelleuse ? Moi j'utilise le nature bio Duval",
    "Yaourtière ou yaourt du commerce ? J'achète du Laiterie Duval nature mais ça fait beaucoup d'emballages",
]
EVERYDAY_LINKEDIN = [
    "Belle rencontre avec la Laiterie Duval à {place} autour des circuits courts en Auvergne-Rhône-Alpes. "
    "Une PME qui montre qu'on peut produire bio et local.",
    "Étude de cas en école de commerce ce matin : la marque Laiterie Duval et le lait de pâturage. "
    "Mes étudiants ont adoré.",
]
EVERYDAY_EN = [
    "Plain organic yogurt from Laiterie Duval with honey = best breakfast in Lyon {good}",
    "French supermarket yogurt hits different. Laiterie Duval plain organic, highly recommend",
    "Living in Clermont-Ferrand and obsessed with the local dairy, Laiterie Duval. Do they export at all?",
]
EVERYDAY_OTHER = [
    ("de", "Frühstück in Lyon: Naturjoghurt von Laiterie Duval mit Honig. So gut! {good}"),
    ("es", "Desayuno en Lyon: yogur natural de la Laiterie Duval con miel. ¡Qué rico! {good}"),
]

TASTE = [
    "Quelqu'un d'autre a trouvé un goût bizarre au yaourt nature {brand} ce matin ? {tag}",
    "Le yaourt nature bio Duval avait un goût de métal ce matin. Dégueulasse, j'ai tout jeté {bad}",
    "Goût amer + odeur bizarre sur mon yaourt {brand}, lot {lot}. C'est normal ça ?? {bad}",
    "J'ouvre un yaourt Duval pour le petit-déj, ça pique la langue. Pas normal, jamais eu ça en 10 ans",
    "Bon ben moi aussi goût chelou sur le nature bio {brand}, acheté {store_at} de {place} {bad}",
    "Texture granuleuse et goût de javel 🤢 yaourt Laiterie Duval, DLC {dlc}. Je garde le pot au cas où",
    "Y a un problème avec les yaourts Duval en ce moment ? Trois pots ouverts, trois goûts bizarres. Dégoûtée {bad}",
    "Mon mari dit que c'est dans ma tête mais ce yaourt {brand} a un goût de plastique. Je suis inquiète {worried}",
    "Plusieurs voisins parlent d'un goût bizarre sur les yaourts nature Duval dans le groupe du quartier "
    "à {place}. Vous aussi ?",
    "Goût de fer dans le yaourt nature bio {brand} ce matin. Je le sens pas du tout {bad} {tag}",
    "C'est moi ou le yaourt nature Laiterie Duval a un goût de carton depuis quelques jours ?",
    "Premier pot : bizarre. Deuxième pot : pareil. J'arrête là avec les yaourts Duval, c'est nul {bad}",
    "Le yaourt nature bio de chez Duval est aigre ce matin, et la DLC c'est le {dlc}. Quelqu'un a la même ?",
    "Odeur de produit ménager en ouvrant le pack de yaourts {brand}. Direction la poubelle {bad}",
    "Les enfants ont refusé leur yaourt Duval ce matin, « il est pas bon maman ». J'ai goûté : ils ont raison",
    "Petit-déj gâché : yaourt nature Laiterie Duval au goût de pièce de monnaie. Lot {lot} si ça intéresse qqn",
    "Je viens de lire plein de messages sur les yaourts Duval… le mien avait un goût bizarre hier soir aussi 😳",
    "J'achète du Duval depuis toujours et là franchement le goût n'est pas normal. {tag}",
    "Goût bizarre confirmé chez nous aussi, {place}, pack acheté {store_at} samedi {bad}",
]
TASTE_FORUM = [
    "[Alimentation] Yaourts nature Laiterie Duval au goût anormal — vous aussi ? Lot {lot} acheté à {place}.",
    "Sujet : goût métallique yaourt Duval. Bonjour à toutes, depuis ce matin plusieurs mamans du forum "
    "signalent un goût bizarre, je lance un fil pour centraliser (lot, magasin, ville).",
    "Re: goût métallique yaourt Duval. Pareil ici, {place}, lot {lot}, acheté {store_at}. On a tout mis de côté.",
]
SICK = [
    "Mon fils a été malade après un yaourt Laiterie Duval ce matin, je ne sais pas si c'est lié… j'ai peur {worried}",
    "Ma fille de 4 ans a vomi deux fois depuis son yaourt Duval du petit-déj. On part chez le médecin {worried}",
    "Nausées depuis 7h, le seul truc que j'ai mangé c'est un yaourt nature Duval. Coïncidence ? Je suis pas bien {bad}",
    "Mon grand-père de 82 ans a mal au ventre depuis ce matin, il mange un yaourt Duval tous les jours… "
    "on surveille {worried}",
    "Mon petit a de la fièvre et mal au ventre après le yaourt. Pot Laiterie Duval lot {lot}. "
    "@LaiterieDuval vous pouvez nous dire quelque chose ?",
    "Crampes d'estomac toute la matinée et j'ai mangé deux yaourts {brand} hier soir. Je vais appeler le médecin.",
    "Aux urgences pédiatriques de {place} avec ma nièce, le médecin nous a demandé si elle avait mangé un "
    "yaourt Duval. Ça commence à faire beaucoup {worried}",
    "Toute la famille a mal au ventre depuis le petit-déj, on a tous mangé le yaourt nature {brand}. "
    "On appelle le 15 ?",
    "Ma fille a eu la diarrhée toute la nuit, elle avait mangé deux yaourts Duval au goûter hier. Je garde les pots, "
    "et je suis en colère {angry}",
]
QUESTION = [
    "@LaiterieDuval bonjour, est-ce qu'il y a un rappel sur le yaourt nature bio 4 × 125 g ? J'en ai 8 au frigo",
    "@LaiterieDuval vous comptez répondre un jour ? Ça fait une heure que tout le monde pose la question {angry}",
    "@LaiterieDuval quels lots sont concernés ?? On fait quoi avec ceux qu'on a déjà achetés ? C'est grave {angry}",
    "@LaiterieDuval c'est grave ou pas ? J'ai donné un yaourt à mon fils ce matin {worried}",
    "Toujours aucun message de @LaiterieDuval sur leur compte. Silence radio, c'est pire que tout {angry}",
    "@LaiterieDuval est-ce que les yaourts aux fruits sont concernés aussi ou seulement le nature ?",
    "@LaiterieDuval votre numéro service consommateurs sonne occupé depuis 20 minutes… inadmissible {angry}",
    "Bonjour @LaiterieDuval, on peut rapporter les pots au magasin ou il faut garder le ticket ?",
    "@LaiterieDuval je suis enceinte et j'en ai mangé un hier, je dois m'inquiéter ? {worried}",
    "@LaiterieDuval pouvez-vous confirmer ou démentir ce qui circule ? Les gens paniquent à {place}",
    "Hé @LaiterieDuval, un petit mot pour vos consommateurs peut-être ? #rappelconso",
    "@LaiterieDuval et les crèches ? Celle de mon fils à {place} sert vos yaourts tous les jours",
    "@LaiterieDuval le fromage blanc et la crème aussi ou pas ? Merci de répondre clairement",
    "Question bête mais si on a mangé un pot hier et qu'on va bien, on est tranquille ? @LaiterieDuval",
]
BOYCOTT = [
    "Plus jamais de Duval à la maison. Boycott tant qu'ils ne disent rien #BoycottDuval",
    "#BoycottDuval jusqu'à ce qu'on sache ce qu'il y a dans ces yaourts {angry}",
    "Une marque qui laisse des parents dans le flou pendant des heures ne mérite pas notre argent. Boycott. {angry}",
    "Je partage : boycott de la Laiterie Duval, ils savaient et n'ont rien dit (paraît-il) #BoycottDuval",
    "Fini les yaourts Duval. Il y a d'autres laiteries dans la région qui respectent les gens. {angry}",
    "Boycott Laiterie Duval ✊ Faites tourner #BoycottDuval #rappelconso",
]
RUMOUR = [
    "Apparemment c'est la listeria et il y a déjà des enfants hospitalisés à Lyon. Partagez !!",
    "Ma belle-sœur bosse à l'hôpital de {place}, il paraît qu'il y a 30 cas liés aux yaourts Duval 😱",
    "Rumeur : tous les produits Laiterie Duval (beurre, crème, fromage blanc) seraient concernés. "
    "Quelqu'un a une source ?",
    "Ils ont rappelé les camions cette nuit paraît-il. Toute la production est bonne à jeter. "
    "Quel scandale {bad}",
    "Vu sur un groupe Facebook : les yaourts Duval contaminés à la soude. C'est vrai ou fake ?",
    "On dit que l'usine Duval de Roanne est fermée par la police. Quelqu'un confirme ? #LaiterieDuval",
    "Toute la production Duval contaminée d'après un pote. Videz vos frigos, on sait jamais {bad}",
    "Il paraît que ça concerne aussi les yaourts vendus en Suisse et en Belgique. Ça devient énorme",
    "D'après un message vocal qui tourne, il y aurait eu un sabotage à l'usine Duval. Quelqu'un a une vraie source ?",
]
SKEPTIC = [
    "Arrêtez de relayer n'importe quoi, rien n'est confirmé pour l'instant. Attendez la fiche de rappel.",
    "Les gens qui parlent de listeria sans aucune source… On se calme et on attend les analyses.",
    "Perso j'en ai mangé un ce matin (lot {lot}) et rien du tout. Pas de panique.",
    "Goût bizarre ≠ intoxication. Vérifiez votre lot, rapportez le produit, c'est tout.",
    "Avant de partager une capture « toute la production est contaminée », demandez-vous d'où ça sort.",
    "Le message vocal sur le « sabotage » est un fake, il circulait déjà l'an dernier avec une autre marque.",
]
JOKE = [
    "Moi qui voulais manger plus sainement cette année… merci le yaourt nature 🙃",
    "Le yaourt nature bio Duval, maintenant avec un arrière-goût de scandale 😬",
    "Ma mère m'a envoyé 14 messages sur les yaourts Duval en une heure. Elle n'achète pas de yaourts Duval.",
    "Le groupe WhatsApp de la famille depuis 8h : 90 % yaourts Duval, 10 % photos du chat",
    "Le chat a mangé le yaourt Duval tombé par terre et il va très bien. Étude scientifique terminée 🐈",
]
LOT = [
    "Photo du lot sur mon pack : {lot}, DLC {dlc}. Quelqu'un sait si c'est un lot touché ? 📸",
    "Vérifiez vos frigos : yaourt nature bio Laiterie Duval 4 × 125 g, le numéro de lot est sur le côté du pack",
    "Pour ceux qui demandent : le lot est imprimé sous la date, sur le carton du 4 × 125 g. Le mien : {lot}",
]
RELIEF = [
    "Bon, j'ai ramené mes yaourts Duval {store_at}, remboursée sans souci. Merci pour le communiqué clair.",
    "Merci @LaiterieDuval pour la transparence, c'est tout ce qu'on demandait.",
    "Mon fils va mieux, c'était sûrement une gastro. Mais ça m'a fait peur {worried}",
    "Lots L26061 et L26062 uniquement, j'ai vérifié, les miens ne sont pas concernés 👍",
    "Le message d'Hélène Duval est sincère je trouve. On verra les résultats des analyses.",
    "Julien Roche à la radio ce matin, au moins ils assument. Reste à savoir ce qui s'est passé.",
    "Donc pas toute la production, juste deux lots. Comme quoi les rumeurs…",
    "Remboursé {store_at} de {place} sans ticket, 2 minutes à l'accueil. Efficace.",
    "Communiqué de {brand} lu. Clair, factuel, avec les lots. Dommage qu'il ait fallu attendre 10h45.",
    "Le service consommateurs Duval m'a rappelée, très gentils, ils récupèrent les pots pour les analyses.",
    "Rassurée : seulement deux lots, et pas le mien. Je garde quand même un œil sur les infos.",
    "Bravo pour la réactivité des magasins, plus un seul pack Duval suspect en rayon {store_at} de {place}.",
]
ANGER_LATE = [
    "Trop tard pour la confiance. Trois heures de silence, c'est trois heures de trop. {angry}",
    "Toujours en colère. On attend les résultats des analyses, pas des belles phrases. #BoycottDuval",
    "« Par précaution »… ça fait depuis 8h que des parents s'inquiètent. {angry}",
    "Je garde mes pots pour les analyses, hors de question de les rapporter avant d'avoir des réponses.",
    "Une déclaration, c'est bien. Des excuses aux parents qui ont passé la matinée aux urgences, ce serait mieux.",
]
EN_SPIKE = [
    "Anyone else get a weird taste from @LaiterieDuval plain yogurt this morning? #rappelconso",
    "My kid threw up after eating Duval yogurt at breakfast. Is there a recall?? {worried}",
    "If you live in Lyon or Saint-Étienne: don't eat the Laiterie Duval organic plain yogurt (4x125g) until "
    "further notice.",
    "Expat in Clermont-Ferrand here, can someone explain what's going on with Laiterie Duval? Which batches?",
    "Brands: when there's a food safety issue, say something within the hour. Laiterie Duval's silence is "
    "painful to watch #foodsafety",
    "Rumour going round that the whole Duval factory is contaminated. No source so far, careful what you share.",
    "French dairy scare: people in Lyon reporting metallic-tasting yogurt from Laiterie Duval. Possible "
    "contamination, no official word yet.",
    "@LaiterieDuval is the strawberry yogurt affected too or only the plain one?",
    "Our host family in Saint-Étienne just threw out all their Laiterie Duval yogurts. Something about a recall?",
    "The plain yogurt from Laiterie Duval tasted like metal this morning and now I see everyone talking about it",
    "Sick since breakfast, only thing I had was a Duval yogurt. Might be nothing but posting just in case",
    "French Twitter is on fire about a yogurt brand, Laiterie Duval. Contamination rumours everywhere, zero "
    "confirmation so far",
    "Anyone know where to check the batch number on Laiterie Duval yogurt packs? Mine is from a shop in Lyon",
]
EN_LATE = [
    "Just returned my Laiterie Duval yogurts, full refund, no receipt needed. Easy.",
    "Good statement from Laiterie Duval, clear about the batches. That's how a recall should be handled.",
    "So only two batches of Laiterie Duval yogurt recalled, not the whole production. Glad I checked before "
    "panicking.",
    "Three hours to say anything about a possible contamination. Laiterie Duval, that's too slow #foodsafety",
    "Update: my yogurts are not from the recalled batches (L26061/L26062). Phew. Thanks Laiterie Duval for the "
    "clear list.",
    "Interesting to watch Laiterie Duval's recall unfold in real time: silence, rumours, then a decent statement.",
    "The Laiterie Duval CEO's message was short and human. Now show us the lab results.",
]
OTHER_SPIKE = [
    ("es", "¿Alguien sabe algo del yogur de Laiterie Duval? Vivo en Lyon y mi hija se encontró mal esta "
           "mañana 😟"),
    ("es", "Si estáis en Lyon, no comáis el yogur natural bio de Laiterie Duval hasta que se aclare."),
    ("es", "Francia: retirada de yogures naturales ecológicos Laiterie Duval por posible contaminación"),
    ("es", "Mi compañera de piso dice que el yogur Duval sabía a metal. Menos mal que no lo probé."),
    ("de", "Rückruf in Frankreich: Bio-Naturjoghurt von Laiterie Duval. Wer in Lyon wohnt, bitte Kühlschrank "
           "prüfen!"),
    ("de", "Ist der Duval Joghurt auch in deutschen Läden betroffen? Weiß jemand was?"),
    ("de", "Seltsamer Geschmack beim Joghurt von Laiterie Duval heute früh… jetzt lese ich von einem Rückruf 😬"),
]
OTHER_LATE = [
    ("es", "Devuelto el pack de yogures Duval al súper, me han reembolsado sin problema."),
    ("de", "Laiterie Duval: Chargen L26061 und L26062 betroffen, laut Hersteller nur vorsorglich."),
    ("es", "Laiterie Duval publica un comunicado: solo dos lotes afectados. Veremos los análisis."),
]

PRESS_OUTLETS = [  # handle, channel, reach
    ("@actu_lyon_info", "twitter", 48_200), ("@franceinfo", "twitter", 2_150_000),
    ("@radio_loire_news", "twitter", 23_400), ("@stetienne_actu", "twitter", 31_700),
    ("@clermont_infos", "twitter", 18_900), ("@journal_roannais", "facebook", 12_300),
    ("@tv_loire_direct", "twitter", 9_800), ("@agroalimentaire_media", "linkedin", 41_000),
]
PRESS = [
    "Selon nos informations, {many} consommateurs de la région de {place} signalent un goût anormal sur des "
    "yaourts Laiterie Duval. #rappelconso",
    "Yaourts Laiterie Duval : ce que l'on sait, ce que l'on ne sait pas encore",
    "Goût anormal de yaourts Duval : la DGAL a été saisie, selon la préfecture de la Loire",
    "Contactée, la Laiterie Duval indique « prendre la situation très au sérieux ». Les analyses sont en cours.",
    "EN DIRECT - Rappel de yaourts nature bio Laiterie Duval : suivez les dernières informations",
    "Selon nos informations, les lots suspects ont été conditionnés sur le site de Roanne entre le 2 et le 4 mars.",
    "{place} : des yaourts Laiterie Duval retirés des rayons par précaution, les clients invités à les rapporter",
    "Intoxication ou simple défaut de goût ? Les questions qui se posent après l'alerte sur les yaourts Duval",
    "Rumeurs sur la Laiterie Duval : non, aucune fermeture de l'usine de Roanne n'a été ordonnée à cette heure",
]
PRESS_LATE = [  # (not before, headline): the press reports what has happened
    ("09:48", "Rappel des yaourts Laiterie Duval : deux lots concernés, l'entreprise publie une déclaration"),
    ("10:08", "Hélène Duval, présidente de la Laiterie Duval : « Nous dirons tout ce que nous savons, dès que nous "
              "le savons »"),
    ("09:50", "Yaourts Duval : les analyses attendues d'ici 48 heures, selon l'ARS Auvergne-Rhône-Alpes"),
    ("10:30", "Julien Roche, porte-parole de Laiterie Duval, était notre invité : « Le rappel est une mesure de "
              "précaution »"),
    ("09:50", "Rappel de yaourts : comment se faire rembourser, quels lots vérifier"),
    ("09:50", "Yaourts Laiterie Duval : pas d'autre produit concerné, assure l'entreprise"),
]
ARTICLES = [  # presse channel: author, title, url
    ("@le_progres_redaction", "Roanne : la Laiterie Duval au cœur d'une alerte sanitaire sur ses yaourts bio",
     "https://exemple.fr/loire/roanne-laiterie-duval-alerte-yaourts"),
    ("@la_montagne_web", "Clermont-Ferrand : des yaourts Laiterie Duval retirés des rayons par précaution",
     "https://exemple.fr/puy-de-dome/yaourts-duval-retires"),
    ("@lyon_capitale_web", "Yaourts Laiterie Duval : les parents lyonnais entre inquiétude et colère",
     "https://exemple.fr/lyon/yaourts-duval-parents"),
    ("@essor_loire", "Laiterie Duval : la PME roannaise face à sa première crise", "https://exemple.fr/eco/duval"),
    ("@le_progres_redaction", "Saint-Étienne : « Mon fils a été malade », des familles témoignent après le rappel",
     "https://exemple.fr/loire/saint-etienne-familles-duval"),
]
EMPLOYEE_INTRANET = [  # before the memo of the general management (10:31 UTC)
    "Est-ce qu'on aura un point ce matin ? À l'atelier conditionnement tout le monde se pose des questions",
    "Le standard est saturé d'appels de consommateurs, on a une FAQ pour leur répondre ?",
    "Courage au labo qualité, grosse matinée pour vous 💪",
    "On en apprend plus sur les réseaux sociaux que par la direction, c'est dommage…",
    "Rappel : on ne répond pas aux journalistes, on renvoie vers Julien Roche (porte-parole).",
    "Les chauffeurs demandent s'ils doivent ramener les palettes des lots L26061 et L26062. Qui décide ?",
    "Des clients appellent l'accueil de l'usine directement. Qui doit leur parler ?",
]
EMPLOYEE_INTRANET_LATE = [  # after it
    "Merci pour le mémo de la direction, ça fait du bien d'avoir des infos claires.",
    "Lignes 2 et 3 arrêtées : on fait quoi en attendant, nettoyage complet ?",
    "La réunion de 13h avec Hélène Duval sera retransmise à l'atelier pour l'équipe de nuit ?",
    "Merci à ceux qui ont répondu au standard toute la matinée. On souffle un peu.",
    "Rappel : on ne répond pas aux journalistes, on renvoie vers Julien Roche (porte-parole).",
]
EMPLOYEE_LINKEDIN = [
    "Salariée chez Duval depuis 12 ans : en interne on n'a aucune info pour l'instant, mais je connais le "
    "sérieux des contrôles qualité. Patience avant de juger.",
    "Je travaille à l'usine de Roanne. Nos équipes font des contrôles tous les jours, laissez les analyses se "
    "faire avant de condamner tout le monde.",
    "Salarié de la Laiterie Duval, je lis des horreurs ce matin. Les rumeurs sur « toute la production » sont "
    "fausses à ma connaissance.",
    "Pensée pour mes collègues de la Laiterie Duval qui vont passer une journée difficile.",
    "Vingt ans de métier en laiterie, dont huit chez Duval. En interne, la qualité n'est jamais une option. "
    "Attendons les résultats.",
    "Fière de nos équipes qualité qui n'ont pas arrêté depuis 7h. Le rappel est une mesure de précaution.",
]
DISTRIBUTORS = [  # handle, channel, reach
    ("@intermarche_lyon", "facebook", 8_400), ("@carrefour_fr", "twitter", 352_000),
    ("@leclerc_roanne", "facebook", 6_100), ("@auchan_clermont", "facebook", 7_300),
]
DISTRIBUTOR_POSTS = [
    "Suite à l'alerte de ce matin, les yaourts nature bio Laiterie Duval 4 × 125 g des lots concernés ne sont "
    "plus dans nos rayons. Vous pouvez les rapporter à l'accueil.",
    "Rappel produit affiché à l'entrée de nos magasins : yaourt nature bio Laiterie Duval, lots L26061 et L26062. "
    "Merci à nos clients pour leur vigilance.",
    "Nos équipes ont vérifié tous les rayons ultra-frais de {place} : aucun pack des lots rappelés n'est plus en "
    "vente.",
    "Le yaourt nature bio 4 × 125 g Laiterie Duval (lots L26061, L26062) a été retiré de la vente dans nos "
    "magasins de la région. Ne le consommez pas et rapportez-le pour remboursement.",
    "Bonjour à tous, les produits Laiterie Duval concernés ne sont plus en vente dans nos magasins de {place}. "
    "Merci de votre compréhension.",
]
DISTRIBUTOR_REPLY = "@{to} Bonjour, le produit a été retiré de nos rayons ce matin. Vous pouvez être remboursé(e) " \
                    "à l'accueil de votre magasin, même sans ticket."
BRAND_REPLIES = [
    "@{to} Bonjour, nous sommes désolés. Pouvez-vous nous envoyer en message privé le numéro de lot et la date "
    "limite ? Notre service consommateurs vous rappelle aujourd'hui.",
    "@{to} Bonjour, nous prenons votre message très au sérieux. Par précaution, ne consommez pas ce produit et "
    "conservez l'emballage. Nous revenons vers vous au plus vite.",
    "@{to} Bonjour, seuls les lots L26061 et L26062 du yaourt nature bio 4 × 125 g sont concernés. Vous pouvez "
    "le rapporter en magasin pour être remboursé(e).",
]

# --- consumer handles --------------------------------------------------------------------------------------

FIRST = {  # first name → f / m / "" (either): "remboursée" is written by a woman, "remboursé" by a man
    **dict.fromkeys(["marie", "lea", "chloe", "manon", "julie", "sarah", "ines", "emma", "lucie", "clara", "pauline",
                     "aurelie", "sandrine", "nath", "vero", "karine", "elodie", "fanny", "mamie", "maman", "tata",
                     "jeanne", "amandine", "lola", "zoe", "yasmine", "nadia"], "f"),
    **dict.fromkeys(["thomas", "nico", "maxime", "kevin", "romain", "antoine", "hugo", "lucas", "yanis", "karim",
                     "mehdi", "sofiane", "bastien", "florian", "quentin", "seb", "fred", "olivier", "patrick",
                     "gilles", "bruno", "didier", "papa", "tonton", "samir", "theo"], "m"),
    **dict.fromkeys(["camille", "steph"], ""),
}
FEMININE = re.compile(r"\b(rembours[ée]e|rassur[ée]e|d[ée]go[uû]t[ée]e|inqui[èe]te|enceinte|rappel[ée]e|Salari[ée]e)\b",
                      re.IGNORECASE)
MASCULINE = re.compile(r"\b(rembours[ée]|rassur[ée]|Salari[ée])\b(?!e)", re.IGNORECASE)
TAGS = ["lyon", "ste", "auvergne", "roanne", "gourmet", "foodie", "veggie", "runner", "bio",
        "zen", "cuisine", "rando", "velo", "jardin", "ptitdej", "maison", "famille", "sud", "off", "perso",
        "du42", "du69", "du63", "gones", "verte", "pressee"]
EN_HANDLES = ["emily_in_lyon", "jake_abroad", "sam_eats_france", "laura_b_writes", "tom_lyon_expat",
              "hannah_cooks", "mike_runs_far", "priya_travels", "ben_in_clermont", "chloe_w_uk", "dan_the_baker",
              "rosie_abroad", "kat_lyon_life", "oliver_eats"]
OTHER_HANDLES = {"es": ["lucia_en_lyon", "javi_mtz", "carmen_rg", "pablo_viajero", "ana_erasmus_lyon"],
                 "de": ["jonas_unterwegs", "lena_kocht", "mia_in_frankreich", "tobias_k", "anke_reist"]}


def forbidden_handle(handle: str) -> bool:
    folded = fold(handle)
    return any(part in folded for parts in AUTHOR_PARTS.values() for part in parts) or any(
        folded in names for names in LISTED.values())


def make_handles(rng: Random, count: int) -> list[tuple[str, str]]:
    """(@handle, gender) of `count` consumers."""
    handles: list[str] = []
    genders: list[str] = []
    while len(handles) < count:
        first, tag = rng.choice(list(FIRST)), rng.choice(TAGS)
        shape = rng.randrange(6)
        handle = [f"{first}_{tag}", f"{first}{rng.randint(1, 99)}", f"{tag}_{first}",
                  f"{first}_{rng.choice('abcdefglmnprstv')}{rng.randint(0, 9)}",
                  f"{first.capitalize()}{tag.capitalize()}",
                  f"{first}_{tag}{rng.choice(['42', '69', '63', '_', '01', '2'])}"][shape]
        if not forbidden_handle(handle) and handle not in handles:
            handles.append(handle)
            genders.append(FIRST[first])
    return [("@" + h, g) for h, g in zip(handles, genders, strict=True)]


# --- typos -------------------------------------------------------------------------------------------------

SHORTHAND = [("Quelqu'un", "Qqn"), ("quelqu'un", "qqn"), ("pourquoi", "pk"), ("beaucoup", "bcp"),
             ("vraiment", "vrmt"), ("aujourd'hui", "ajd"), ("toujours", "tjrs"), ("c'est", "c"),
             ("quand même", "qd mm"), ("même", "meme"), ("ça", "sa"), ("je sais pas", "jsp"),
             ("Est-ce que", "Est ce que"),
             ("il y a", "y a"), ("ne sont pas", "sont pas"), ("s'il vous plaît", "svp"), ("très", "trop")]


OPENERS = ["Bon, ", "Alerte : ", "Hello, ", "Euh… ", "Bonjour, ", "Attention ⚠️ ", "PSA : ", "Franchement, ",
           "Sérieusement, ", "Info importante : "]
CLOSERS = ["Partagez svp", "#rappelconso", "🙏", "Je suis pas rassurée.", "Affaire à suivre…", "🤷",
           "Vous en pensez quoi ?", "Merci d'avance.", "#LaiterieDuval", "(je précise : {place})"]
EN_OPENERS = ["Ugh. ", "PSA: ", "Heads up: ", "FYI: "]
EN_CLOSERS = ["Stay safe.", "#Lyon", "#foodsafety", "🙏", "Any info appreciated.", "Not great."]


def strip_accents(text: str) -> str:
    return "".join(ch for ch in unicodedata.normalize("NFD", text) if not unicodedata.combining(ch)).replace(
        "\u0153", "oe")


def roughen(text: str, rng: Random) -> str:
    """Real posts: shorthand, missing accents, lower case, swapped letters, shouted punctuation."""
    for long, short in rng.sample(SHORTHAND, len(SHORTHAND)):
        if long in text and rng.random() < 0.35:
            text = text.replace(long, short, 1)
    if rng.random() < 0.12:
        text = text.replace("j'ai", "jai").replace("J'ai", "Jai").replace("c'est", "cest")
    if rng.random() < 0.18:
        words = text.split(" ")
        plain = [i for i, w in enumerate(words) if len(w) > 5 and w.isalpha()]
        if plain:
            i = rng.choice(plain)
            k = rng.randrange(1, len(words[i]) - 2)
            w = words[i]
            words[i] = w[:k] + w[k + 1] + w[k] + w[k + 2:]
            text = " ".join(words)
    if rng.random() < 0.15:
        text = strip_accents(text)
    if rng.random() < 0.12:
        text = text.lower()
    if rng.random() < 0.15:
        text = re.sub(r"([?!])(?=\s|$)", lambda m: m.group(1) * rng.randint(2, 4), text, count=1)
    return text


# --- the stream --------------------------------------------------------------------------------------------


@dataclass
class Post:
    at: datetime
    text: str
    author: str
    channel: str = "twitter"
    lang: str = "fr"
    url: str | None = None
    reach: int | None = None
    kind: str = "public"
    shares: float = 0.0  # how likely it is retweeted (0: never)
    seq: int = 0

    def record(self, ident: str, rng: Random) -> dict:
        data: dict = {"id": ident, "created_at": self.at.strftime("%Y-%m-%dT%H:%M:%SZ"), "text": self.text,
                      "author": self.author, "channel": self.channel}
        if self.url:
            data["url"] = self.url
        if self.reach is not None:
            data["reach"] = self.reach
        if rng.random() < (0.2 if self.lang == "fr" else 0.45):
            data["lang"] = self.lang
        return data


def at(hhmmss: str) -> datetime:
    h, m, s = (int(x) for x in hhmmss.split(":"))
    return START.replace(hour=h, minute=m, second=s)


def volumes(rng: Random) -> list[int]:
    """Mentions per 5-minute window, 06:00–12:00 (72 windows)."""
    baseline = [rng.choice([1, 2, 2, 3, 3, 4]) for _ in range(18)]
    spike = [3, 4, 5, 6, 8, 9, 10, 11, 12, 13, 13, 14, 14, 15, 15, 14, 13, 12, 12, 11, 10, 10, 9, 9, 8, 8, 7, 7,
             6, 6]
    decline = [6, 6, 5, 5, 5, 4, 4, 4, 4, 3, 3, 3, 3, 3, 3, 2, 2, 2, 2, 2, 2, 2, 1, 2]
    return baseline + [max(1, v + rng.choice([-1, 0, 0, 1])) for v in spike + decline]


class Stream:
    def __init__(self, rng: Random) -> None:
        self.rng = rng
        self.people = make_handles(rng, 260)
        self.employees = {"f": ["@nathalie_roux", "@ophelie_b", "@agnes_chambon", "@claire_moreau_qualite"],
                          "m": ["@sylvain_perret", "@marc_dumas", "@franck_teyssier", "@laurent_vial"]}
        self.posts: list[Post] = []
        self.articles = list(ARTICLES)  # each article is published once
        self.headlines: set[tuple[str, str]] = set()
        self.answered: set[str] = set()  # the brand answers each customer once
        self.drawn: set[tuple[str, str]] = set()

    # helpers
    def fill(self, template: str, **fixed: str) -> str:
        text = template.format_map(Slots(self.rng, **fixed))
        return re.sub(r"\s+", " ", text).strip()

    def consumer_reach(self) -> int:
        return min(250_000, max(3, int(self.rng.lognormvariate(5.3, 1.3))))

    def person(self, text: str = "") -> str:
        """A consumer; a few loud accounts post several times, most once. Agrees with the text's gender."""
        wanted = "f" if FEMININE.search(text) else "m" if MASCULINE.search(text) else None
        people = [h for h, g in self.people if wanted is None or g in (wanted, "")]
        pool = people[:20] if self.rng.random() < 0.25 else people
        return self.rng.choice(pool)

    def fresh(self, options: list, key: str = "") -> object:
        """One of `options` not drawn yet under `key` (an author, a kind), while there are some left."""
        left = [o for o in options if (key, repr(o)) not in self.drawn] or options
        choice = self.rng.choice(left)
        self.drawn.add((key, repr(choice)))
        return choice

    def add(self, post: Post) -> Post:
        post.seq = len(self.posts)
        self.posts.append(post)
        return post

    def consumer(self, t: datetime, templates: list[str], kind: str = "public", shares: float = 0.3,
                 channels: tuple[str, ...] = ("twitter",) * 7 + ("facebook",) * 2 + ("instagram",),
                 rough: bool = True) -> Post:
        text = self.fill(self.fresh(templates, str(id(templates))))  # every template once before any repeats
        if kind in ("taste", "sick", "question", "rumour", "boycott") or templates is LOT:
            if self.rng.random() < 0.18 and text[0].isupper() and not text.startswith("Je"):
                text = self.rng.choice(OPENERS) + text[0].lower() + text[1:]
            closer = self.fill(self.rng.choice(CLOSERS))
            if self.rng.random() < 0.25 and closer not in text:
                text = text.rstrip() + " " + closer
        if rough and self.rng.random() < 0.7:
            text = roughen(text, self.rng)
        channel = self.rng.choice(channels)
        assert audience({"text": text, "author": "@x", "channel": channel}) == "clients", text
        reach = self.consumer_reach() if self.rng.random() < 0.85 else None
        url = f"https://example.org/{channel}/p/{self.rng.randrange(10**8, 10**9)}" if channel in (
            "facebook", "instagram") and self.rng.random() < 0.5 else None
        return Post(t, text, self.person(text), channel, "fr", url, reach, kind,
                    shares * self.rng.choice([0.2, 0.5, 1, 1, 2]))

    # generators of one filler post
    def everyday(self, t: datetime) -> Post:
        r = self.rng.random()
        if r < 0.1:
            return self.consumer(t, EVERYDAY_FORUM, channels=("forum",), shares=0)
        if r < 0.16:
            p = self.consumer(t, EVERYDAY_LINKEDIN, channels=("linkedin",), shares=0, rough=False)
            return p
        if r < 0.3:
            return self.foreign(t, EVERYDAY_EN, EVERYDAY_OTHER)
        return self.consumer(t, EVERYDAY_FR, "everyday", shares=0,
                             channels=("twitter",) * 4 + ("instagram",) * 3 + ("facebook",) * 2)

    def foreign(self, t: datetime, english: list[str], other: list[tuple[str, str]], en: bool | None = None) -> Post:
        if en if en is not None else self.rng.random() < 0.7:
            text = self.fill(self.fresh(english, str(id(english))))
            if english is EN_SPIKE:  # no "Ugh." on a breakfast photo, no "Any info appreciated." on a thank-you
                if self.rng.random() < 0.15 and not text.startswith("@"):
                    text = self.rng.choice(EN_OPENERS) + text
                if self.rng.random() < 0.2:
                    text += " " + self.rng.choice(EN_CLOSERS)
            author = "@" + self.rng.choice(EN_HANDLES) if self.rng.random() < 0.8 else self.person()
            kind, shares = ("everyday", 0.0) if english is EVERYDAY_EN else ("public", 0.3)
            return Post(t, text, author, self.rng.choice(["twitter"] * 4 + ["instagram"]), "en", None,
                        self.consumer_reach(), kind, shares)
        lang, template = self.fresh(other, str(id(other)))
        author = "@" + self.rng.choice(OTHER_HANDLES[lang])
        kind, shares = ("everyday", 0.0) if other is EVERYDAY_OTHER else ("public", 0.1)
        return Post(t, self.fill(template), author, self.rng.choice(["twitter", "twitter", "facebook"]), lang,
                    None, self.consumer_reach(), kind, shares)

    def press(self, t: datetime) -> Post:
        if self.articles and self.rng.random() < 0.5:
            author, title, url = self.articles.pop(0)
            return Post(t, title, author, "presse", "fr", url, self.rng.randint(15_000, 220_000), "press", 1.0)
        late = [title for hhmm, title in PRESS_LATE if at(hhmm + ":00") <= t]
        headlines = late if len(late) >= 2 else PRESS
        for _ in range(20):  # an outlet does not post the same headline twice
            author, channel, reach = self.rng.choice(PRESS_OUTLETS)
            template = self.rng.choice(headlines)
            if (author, template) not in self.headlines:
                break
        self.headlines.add((author, template))
        title = self.fill(template)
        url = f"https://exemple.fr/{author[1:]}/{self.rng.randrange(10**5, 10**6)}"
        return Post(t, f"{title} {url}", author, channel, "fr", None, reach, "press", 2.5)

    def employee(self, t: datetime) -> Post:
        author = self.rng.choice(self.employees[self.rng.choice("fm")])
        if self.rng.random() < 0.55:
            text = self.fresh(EMPLOYEE_INTRANET_LATE if t >= at("10:31:10") else EMPLOYEE_INTRANET, "intranet")
            return Post(t, text, author, "intranet", "fr", "https://exemple.fr/intranet/duval/fil-info",
                        self.rng.randint(40, 400), "employee")
        text = self.fresh(EMPLOYEE_LINKEDIN, "linkedin")
        if FEMININE.search(text) or MASCULINE.search(text):
            author = self.rng.choice(self.employees["f" if FEMININE.search(text) else "m"])
        return Post(t, text, author, "linkedin", "fr", None,
                    self.rng.randint(150, 2_500), "employee", 0.2)

    def distributor(self, t: datetime) -> Post:
        author, channel, reach = self.rng.choice(DISTRIBUTORS)
        asking = self.earlier(t, ("question", "taste"))
        if asking and channel == "twitter" and self.rng.random() < 0.6:
            return Post(t, DISTRIBUTOR_REPLY.format(to=asking.author.lstrip("@")), author, channel, "fr", None,
                        reach, "distributor")
        city = {"@intermarche_lyon": "Lyon", "@leclerc_roanne": "Roanne", "@auchan_clermont": "Clermont-Ferrand"}
        fixed = {"place": city[author]} if author in city else {}
        return Post(t, self.fill(self.fresh(DISTRIBUTOR_POSTS, author), **fixed), author, channel, "fr", None, reach,
                    "distributor", 1.0)

    def brand_reply(self, t: datetime) -> Post:
        asking = self.earlier(t, ("question", "sick", "taste"), exclude=self.answered)
        to = asking.author if asking else self.person()
        self.answered.add(to)
        to = to.lstrip("@")
        return Post(t, self.rng.choice(BRAND_REPLIES).format(to=to), "@LaiterieDuval", "twitter", "fr", None,
                    14_600, "brand")

    def earlier(self, t: datetime, kinds: tuple[str, ...], exclude: set[str] = frozenset()) -> Post | None:
        found = [p for p in self.posts if p.kind in kinds and p.at < t and p.author not in exclude
                 and p.channel == "twitter"]
        return self.rng.choice(found[-15:]) if found else None

    def retweet(self, t: datetime, kinds: tuple[str, ...]) -> Post | None:
        """A verbatim retweet of an earlier, popular tweet of one of `kinds` (recent ones are shared most)."""
        pool = [p for p in self.posts if p.shares > 0 and p.at < t - timedelta(seconds=45)
                and p.channel == "twitter" and p.kind in kinds]
        if not pool:
            return None
        weights = [p.shares / (1 + (t - p.at).total_seconds() / 2400) for p in pool]
        original = self.rng.choices(pool, weights)[0]
        author = self.person()
        while author == original.author:
            author = self.person()
        return Post(t, f"RT {original.author}: {original.text}", author, "twitter", original.lang, None,
                    self.consumer_reach(), "retweet")


# Filler posts per phase (minutes since 06:00): each category gets its share of the phase's fillers, exactly
# (a shuffled deck, not independent draws), so the mix of audiences and languages holds whatever the draws.
PHASES = [
    (0, 90, {"everyday": 1.0}),
    (90, 135, {"taste": 28, "sick": 9, "question": 14, "rumour": 5, "boycott": 3, "lot": 7, "skeptic": 2,
               "en": 9, "other": 4, "rt_crowd": 11, "rt_press": 2, "rt_brand": 2, "employee": 2}),
    (135, 240, {"taste": 9, "sick": 4, "question": 8, "rumour": 6, "boycott": 6, "skeptic": 4, "joke": 3,
                "lot": 3, "press": 7, "employee": 3, "distributor": 2.5, "brand_reply": 3, "en": 10, "other": 5,
                "rt_crowd": 13, "rt_press": 8, "rt_official": 3.5, "rt_brand": 2, "rt_distributor": 2}),
    (240, 360, {"relief": 17, "anger": 7, "question": 3, "press": 5, "employee": 3, "distributor": 1.5,
                "brand_reply": 5, "en": 10, "other": 5, "rt_brand": 14, "rt_press": 6, "rt_official": 3,
                "rt_crowd": 6, "skeptic": 2}),
]
RETWEETED = {
    "rt_crowd": ("taste", "sick", "question", "rumour", "boycott", "public"),
    "rt_press": ("press",), "rt_official": ("authority",), "rt_brand": ("brand",), "rt_distributor": ("distributor",),
}


def deck(weights: dict[str, float], size: int, rng: Random) -> list[str]:
    """`size` categories in proportion to `weights` (largest remainders), shuffled."""
    total = sum(weights.values())
    exact = {name: size * w / total for name, w in weights.items()}
    counts = {name: int(x) for name, x in exact.items()}
    for name in sorted(exact, key=lambda n: exact[n] - counts[n], reverse=True)[: size - sum(counts.values())]:
        counts[name] += 1
    cards = [name for name, n in counts.items() for _ in range(n)]
    rng.shuffle(cards)
    return cards


def scripted(s: Stream) -> None:
    """The key moments of the story, at fixed times; the popular ones get retweeted."""
    s.add(Post(at("06:41:12"), "Bonjour ! Le yaourt nature bio 4 × 125 g arrive dans tous les magasins de la "
               "région 🐄 Du lait de pâturage, collecté à moins de 50 km de Roanne. #LaiterieDuval",
               "@LaiterieDuval", "twitter", "fr", None, 14_600, "brand", 0))
    s.add(Post(at("07:12:40"), "La Laiterie Duval inaugure sa toiture photovoltaïque à Roanne "
               "https://exemple.fr/roanne/duval-solaire", "@journal_roannais", "facebook", "fr", None, 12_300,
               "press", 0))
    s.add(Post(at("07:31:08"), "Quelqu'un d'autre a trouvé un goût bizarre au yaourt nature @LaiterieDuval ce "
               "matin ? Goût de métal, j'ai recraché 🤢 #rappelconso", "@lea_lyonnaise", "twitter", "fr", None,
               1_240, "taste", 3))
    s.add(Post(at("07:44:51"), "Mon fils de 3 ans a vomi après son yaourt nature Laiterie Duval ce matin. On est "
               "aux urgences à Saint-Étienne. Je ne sais pas si c'est lié mais vérifiez vos frigos 😰 "
               "@LaiterieDuval #rappelconso", "@maman_solo42", "twitter", "fr", None, 2_870, "sick", 6))
    s.add(Post(at("07:52:30"), "@LaiterieDuval est-ce que vous êtes au courant ? Plein de messages sur un goût "
               "bizarre de vos yaourts nature. Il y a un rappel ou pas ?", "@karim_du69", "twitter", "fr", None,
               410, "question", 1.5))
    s.add(Post(at("08:04:10"), "Nous avons connaissance de signalements sur le goût de notre yaourt nature bio "
               "4 × 125 g. Notre service qualité analyse les lots concernés. Par précaution, ne consommez pas les "
               "pots des lots L26061 et L26062. Nous reviendrons vers vous très vite.", "@LaiterieDuval",
               "twitter", "fr", None, 14_600, "brand", 4))
    s.add(Post(at("08:07:33"), "Info d'une amie qui bosse dans l'agro : TOUTE la production de l'usine Duval de "
               "Roanne est contaminée et l'usine va fermer. Jetez tout, même le beurre et la crème !! "
               "#rappelconso #LaiterieDuval", "@tata_gourmande", "twitter", "fr", None, 5_300, "rumour", 6))
    s.add(Post(at("08:12:05"), "Selon nos informations, une dizaine de consommateurs de l'agglomération lyonnaise "
               "et de la Loire signalent un goût anormal sur des yaourts nature bio Laiterie Duval. Un enfant "
               "aurait été conduit aux urgences à Saint-Étienne. #rappelconso https://exemple.fr/actu/duval-yaourts",
               "@actu_lyon_info", "twitter", "fr", None, 48_200, "press", 6))
    s.add(Post(at("08:21:44"), "Boycott de la Laiterie Duval tant qu'ils ne disent pas la vérité aux parents. "
               "Faites tourner 😡 #BoycottDuval", "@sofiane_verte", "twitter", "fr", None, 3_900, "boycott", 3))
    s.add(Post(at("08:27:19"), "Salariée chez Duval, en interne on n'a aucune info. On découvre tout sur les "
               "réseaux comme vous. Je ne crois pas une seconde que « toute la production » soit contaminée.",
               "@ophelie_b", "linkedin", "fr", None, 1_150, "employee", 1))
    s.add(Post(at("08:31:02"), "Yaourts Laiterie Duval : la préfecture de la Loire confirme des signalements, la "
               "DGAL a été saisie. Notre reportage à Roanne dans le journal de 9h. #rappelconso",
               "@radio_loire_news", "twitter", "fr", None, 23_400, "press", 3))
    s.add(Post(at("08:42:26"), "Rappel de produit : Yaourt nature bio 4 × 125 g, marque Laiterie Duval, lots "
               "L26061 et L26062, DLC 28/03/2026. Motif : suspicion de contamination. Ne pas consommer, rapporter "
               "au point de vente. https://example.org/rappel-conso/fiche/duval-yaourt-nature-bio",
               "@RappelConso", "twitter", "fr", None, 96_500, "authority", 7))
    s.add(Post(at("08:48:37"), "Rappel de yaourts Laiterie Duval en Auvergne-Rhône-Alpes : deux lots concernés, "
               "la DGAL enquête sur une possible contamination. https://exemple.fr/franceinfo/rappel-duval",
               "@franceinfo", "twitter", "fr", None, 2_150_000, "press", 16))
    s.add(Post(at("08:53:15"), "Information clients : par précaution, le yaourt nature bio Laiterie Duval "
               "4 × 125 g (lots L26061 et L26062) est retiré de nos rayons. Remboursement à l'accueil, même sans "
               "ticket.", "@intermarche_lyon", "facebook", "fr", None, 8_400, "distributor", 1.5))
    s.add(Post(at("08:58:49"), "Le yaourt nature bio 4 × 125 g Laiterie Duval (lots L26061, L26062) a été retiré "
               "de la vente dans nos magasins. Ne le consommez pas et rapportez-le en magasin pour être remboursé.",
               "@carrefour_fr", "twitter", "fr", None, 352_000, "distributor", 2.5))
    s.add(Post(at("09:19:27"), "Vos magasins E.Leclerc de Roanne ont retiré ce matin le yaourt nature bio Laiterie "
               "Duval 4 × 125 g des lots L26061 et L26062. Remboursement à l'accueil sur simple présentation du "
               "produit.",
               "@leclerc_roanne", "facebook", "fr", "https://example.org/facebook/leclerc-roanne/posts/rappel-duval",
               6_100, "distributor", 1))
    s.add(Post(at("09:04:03"), "Suspicion de contamination de yaourts Laiterie Duval : les services de l'État "
               "(DDPP de la Loire, DGAL) sont mobilisés. Des prélèvements sont en cours sur le site de production "
               "de Roanne. Aucune fermeture n'a été prononcée.", "@prefet_loire", "twitter", "fr",
               "https://example.org/prefecture-loire/communique-duval", 31_200, "authority", 3))
    s.add(Post(at("09:11:58"), "Vous avez consommé un yaourt nature bio Laiterie Duval des lots L26061 ou L26062 "
               "et vous avez des symptômes (vomissements, diarrhée, fièvre) ? Consultez votre médecin. En cas "
               "d'urgence, appelez le 15.", "@Sante_Gouv", "twitter", "fr", None, 482_000, "authority", 8))
    s.add(Post(at("09:16:40"), "هل زبادي Laiterie Duval آمن؟ أخي في ليون يقول إن المنتج سُحب من المتاجر "
               "#rappelconso", "@samir_du42", "twitter", "ar", None, 640, "public", 0))
    s.add(Post(at("09:22:31"), "L'ARS Auvergne-Rhône-Alpes a reçu 6 signalements de troubles digestifs après "
               "consommation de yaourts Laiterie Duval, dont un enfant vu aux urgences et rentré chez lui. Aucun "
               "cas grave à ce stade.", "@ARS_ARA", "twitter", "fr", None, 27_800, "authority", 5))
    s.add(Post(at("09:38:44"), "Rappel de yaourts Laiterie Duval : la DGAL et les services vétérinaires de la Loire "
               "conduisent les analyses. Les consommateurs sont invités à suivre les consignes de la fiche "
               "Rappel Conso.", "@Agri_Gouv", "twitter", "fr", None, 163_000, "authority", 3))
    s.add(Post(at("09:33:12"), "Non, toute la production de la Laiterie Duval n'est pas contaminée : seuls deux "
               "lots sont rappelés, précise la préfecture. Ce que l'on sait à cette heure "
               "https://exemple.fr/actu/duval-rumeurs", "@stetienne_actu", "twitter", "fr", None, 31_700, "press",
               4))
    s.add(Post(at("09:46:05"), "Déclaration de Laiterie Duval : par mesure de précaution, nous rappelons le yaourt "
               "nature bio 4 × 125 g, lots L26061 et L26062 (DLC 28/03/2026). Les analyses sont en cours avec les "
               "autorités. Aucun autre produit n'est concerné à ce stade. Remboursement en magasin. Julien Roche, "
               "porte-parole. https://example.org/laiterie-duval/declaration", "@LaiterieDuval", "twitter", "fr",
               None, 14_600, "brand", 12))
    s.add(Post(at("09:47:30"), "Déclaration de Laiterie Duval : rappel par précaution des lots L26061 et L26062 du "
               "yaourt nature bio 4 × 125 g. Aucun autre produit concerné à ce stade. Remboursement en magasin.",
               "@LaiterieDuval", "facebook", "fr", "https://example.org/facebook/laiteriduval/declaration", 22_800,
               "brand", 3))
    s.add(Post(at("10:06:22"), "Message d'Hélène Duval, présidente : « Je comprends l'inquiétude des familles. La "
               "sécurité de ceux qui nous font confiance passe avant tout. Nous dirons tout ce que nous savons, dès "
               "que nous le savons. » https://example.org/laiterie-duval/message-helene-duval", "@LaiterieDuval",
               "twitter", "fr", None, 14_600, "brand", 6))
    s.add(Post(at("10:12:45"), "Julien Roche, porte-parole de la Laiterie Duval, au micro de @radio_loire_news : "
               "« Le rappel est une mesure de précaution, nous saurons d'ici 48 heures ce qui s'est passé. »",
               "@radio_loire_news", "twitter", "fr", None, 23_400, "press", 3))
    s.add(Post(at("10:31:10"), "Mémo de la direction générale : le rappel concerne uniquement les lots L26061 et "
               "L26062. Les lignes de conditionnement 2 et 3 sont arrêtées pour contrôle. Point avec Hélène Duval à "
               "13h en salle de réunion et en visio.", "@direction_generale_duval", "intranet", "fr",
               "https://exemple.fr/intranet/duval/memo-rappel", 380, "employee", 0))
    s.add(Post(at("10:44:18"), "Mise à jour : la fiche de rappel des yaourts nature bio Laiterie Duval (lots "
               "L26061, L26062) est complétée. Les analyses des services de contrôle sont en cours. "
               "https://example.org/rappel-conso/fiche/duval-yaourt-nature-bio", "@RappelConso", "twitter", "fr",
               None, 96_500, "authority", 1.5))
    s.add(Post(at("11:05:09"), "France: Laiterie Duval recalls organic plain yogurt (4x125g), batches L26061 and "
               "L26062, over suspected contamination. Authorities investigating, no serious cases reported.",
               "@foodsafety_news", "twitter", "en", None, 18_600, "press", 1.5))
    s.add(Post(at("11:24:37"), "La Ville de Roanne relaie le rappel des yaourts nature bio Laiterie Duval (lots "
               "L26061, L26062). Cantines scolaires : aucun produit concerné n'a été servi.", "@mairie_roanne",
               "facebook", "fr", None, 12_100, "authority", 1))
    s.add(Post(at("11:41:03"), "Point de situation : 9 signalements reçus au total, aucun cas grave. Les résultats "
               "des analyses sur les lots L26061 et L26062 sont attendus sous 48 heures.", "@ARS_ARA", "twitter",
               "fr", None, 27_800, "authority", 2))


# The rumour "toute la production est contaminée" reaches the employees and the distributors (the demo playbook's
# claim `toute_la_production` spreads there, so its correction goes to them too). Fixed posts with their own ids,
# merged after the random draws: every other line of the file stays as it was.
RUMOUR_RELAYED = [  # time, author, channel, text, reach
    ("08:39:26", "@marc_dumas", "intranet", "On entend en salle de pause que toute la production de Roanne serait "
     "contaminée et que l'usine va fermer. C'est vrai ? Personne ne nous dit rien.", 210),
    ("08:56:02", "@agnes_chambon", "intranet", "Un chauffeur m'a dit que toute la production part à la benne depuis "
     "cette nuit. On doit prévenir nos familles ?", 160),
    ("09:02:31", "@auchan_clermont", "facebook", "Des clients nous signalent que toute la production Laiterie Duval "
     "serait contaminée : par précaution, tous les produits de la marque sont retirés de nos rayons de "
     "Clermont-Ferrand.", 7_300),
    ("09:14:09", "@intermarche_lyon", "facebook", "Information clients : en attendant des précisions, nous retirons "
     "de nos rayons toute la production Laiterie Duval (yaourts, crème, beurre, fromage blanc).", 8_400),
    ("09:24:47", "@franck_teyssier", "linkedin", "Des collègues disent que toute la production de notre usine est "
     "contaminée. Si c'est vrai, c'est un coup terrible pour nos équipes.", 860),
    ("09:27:55", "@leclerc_roanne", "facebook", "Nos clients nous demandent si toute la production Duval est "
     "contaminée. Nous avons retiré l'ensemble des produits de la marque en attendant la réponse du fournisseur.",
     6_100),
]


def with_relayed_rumour(records: list[dict]) -> list[dict]:
    """The generated records and RUMOUR_RELAYED (ids `rumeur-01`…), in time order."""
    relayed = [{"id": f"rumeur-{i:02d}", "created_at": at(hhmmss).strftime("%Y-%m-%dT%H:%M:%SZ"), "text": text,
                "author": author, "channel": channel, "reach": reach}
               for i, (hhmmss, author, channel, text, reach) in enumerate(RUMOUR_RELAYED, 1)]
    return sorted([*records, *relayed], key=lambda r: r["created_at"])


def generate(rng: Random) -> list[dict]:
    s = Stream(rng)
    scripted(s)
    fixed = sorted(s.posts, key=lambda p: p.at)
    counts = volumes(rng)
    fillers = []  # (window, second) of each filler post
    for w, target in enumerate(counts):
        lo = START + w * WINDOW
        already = sum(lo <= p.at < lo + WINDOW for p in fixed)
        fillers += [(w, sec) for sec in sorted(rng.randrange(300) for _ in range(max(0, target - already)))]
    cards: list[str] = []
    for first, last, weights in PHASES:
        cards += deck(weights, sum(first <= w * 5 < last for w, _ in fillers), rng)
    for (w, sec), category in zip(fillers, cards, strict=True):
        t = START + w * WINDOW + timedelta(seconds=sec)
        s.add(make(s, category, t, w * 5))
    posts = sorted(s.posts, key=lambda p: (p.at, p.seq))
    return [p.record(f"rappel-{i:04d}", rng) for i, p in enumerate(posts, 1)]


def make(s: Stream, category: str, t: datetime, minute: int) -> Post:
    late = minute >= 240
    if category == "everyday":
        return s.everyday(t)
    if category == "taste":
        if s.rng.random() < 0.15:
            return s.consumer(t, TASTE_FORUM, "taste", 0, channels=("forum",))
        return s.consumer(t, TASTE, "taste", 0.6)
    if category == "sick":
        return s.consumer(t, SICK, "sick", 1.0)
    if category == "question":
        return s.consumer(t, QUESTION, "question", 0.3, channels=("twitter",) * 4 + ("facebook",))
    if category == "rumour":
        return s.consumer(t, RUMOUR, "rumour", 1.0)
    if category == "boycott":
        return s.consumer(t, BOYCOTT, "boycott", 0.8)
    if category == "skeptic":
        return s.consumer(t, SKEPTIC, "public", 0.4)
    if category == "joke":
        return s.consumer(t, JOKE, "public", 0.6)
    if category == "lot":
        return s.consumer(t, LOT, "public", 0.5, channels=("twitter",) * 2 + ("instagram", "facebook"))
    if category == "relief":
        return s.consumer(t, RELIEF, "public", 0.3)
    if category == "anger":
        return s.consumer(t, ANGER_LATE, "public", 0.4)
    if category in ("en", "other"):
        return s.foreign(t, EN_LATE if late else EN_SPIKE, OTHER_LATE if late else OTHER_SPIKE, category == "en")
    if category == "press":
        return s.press(t)
    if category == "employee":
        return s.employee(t)
    if category == "distributor":
        return s.distributor(t)
    if category == "brand_reply":
        return s.brand_reply(t)
    if category in RETWEETED:
        return s.retweet(t, RETWEETED[category]) or s.retweet(t, RETWEETED["rt_crowd"]) or s.consumer(
            t, TASTE, "taste", 0.5)
    raise ValueError(category)


def malformed(first_id: int) -> list[str]:
    """Three broken records, as real exports have them: they must end up in the quarantine."""
    wrong_field = {"id": f"rappel-{first_id:04d}", "created_at": "2026-03-12T11:58:12Z",
                   "texte": "Toujours pas de nouvelles des analyses ? On attend…", "author": "@vero_roannaise",
                   "channel": "facebook", "reach": 85}
    bad_date = {"id": f"rappel-{first_id + 1:04d}", "created_at": "12/03/2026 12h03",
                "text": "Remboursée à l'accueil du magasin de Roanne, rapide et sans ticket. Merci !",
                "author": "@julie_rando", "channel": "twitter"}
    cut = json.dumps({"id": f"rappel-{first_id + 2:04d}", "created_at": "2026-03-12T11:59:40Z",
                      "text": "Bon ben on attend les résultats des analyses, en espérant que ce soit vraiment que "
                              "deux lots", "author": "@nico_gones", "channel": "twitter"}, ensure_ascii=False)
    return [json.dumps(wrong_field, ensure_ascii=False), json.dumps(bad_date, ensure_ascii=False),
            cut[: cut.index("vraiment")]]


# --- checks ------------------------------------------------------------------------------------------------

ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
REQUIRED = ("id", "created_at", "text", "author", "channel")


def problems(record: object) -> list[str]:
    if not isinstance(record, dict):
        return ["not an object"]
    found = [f"missing {k}" for k in REQUIRED if not isinstance(record.get(k), str) or not record.get(k)]
    if isinstance(record.get("created_at"), str):
        if not ISO.match(record["created_at"]):
            found.append("created_at is not ISO 8601 UTC")
        else:
            datetime.fromisoformat(record["created_at"].replace("Z", "+00:00"))
    if record.get("channel") not in CHANNELS:
        found.append(f"channel {record.get('channel')!r}")
    if not str(record.get("author", "")).startswith("@"):
        found.append("author is not a @handle")
    if "url" in record and not str(record["url"]).startswith(URL_PREFIXES):
        found.append(f"url {record['url']}")
    for url in re.findall(r"https?://\S+", str(record.get("text", ""))):
        if not url.startswith(URL_PREFIXES):
            found.append(f"link in text {url}")
    if "reach" in record and (not isinstance(record["reach"], int) or record["reach"] < 0):
        found.append("reach is not a whole number")
    if "lang" in record and not re.fullmatch(r"[a-z]{2}", str(record["lang"])):
        found.append("lang is not a two-letter code")
    return found


def check(path: Path) -> int:
    """Validate the file and print counts; 0 when every good line is good and the last ones are broken."""
    lines = path.read_text(encoding="utf-8").splitlines()
    good, bad = lines[:-MALFORMED], lines[-MALFORMED:]
    errors: list[str] = []
    records = []
    for number, line in enumerate(good, 1):
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            errors.append(f"line {number}: not JSON ({exc})")
            continue
        errors += [f"line {number}: {p}" for p in problems(record)]
        records.append(record)
    ids = Counter(r.get("id") for r in records)
    errors += [f"duplicate id {i}" for i, n in ids.items() if n > 1]
    times = [r["created_at"] for r in records]
    if times != sorted(times):
        errors.append("records are not in time order")
    for number, line in enumerate(bad, len(good) + 1):
        try:
            if not problems(json.loads(line)):
                errors.append(f"line {number} should be malformed but is fine")
        except json.JSONDecodeError:
            pass
    consumers = [r for r in records if audience(r) == "clients" and not RETWEET.match(r["text"])
                 and r["author"] != "@LaiterieDuval"]
    errors += [f"consumer handle {r['author']} trips an audience rule" for r in consumers
               if forbidden_handle(r["author"])]

    print(f"{path.name}: {len(lines)} lines = {len(records)} good + {len(bad)} malformed (last lines)")
    hours = Counter(r["created_at"][11:13] + ":00" for r in records)
    print("per hour:    " + ", ".join(f"{h} {n}" for h, n in sorted(hours.items())))
    channels = Counter(r["channel"] for r in records)
    print("per channel: " + ", ".join(f"{c} {n}" for c, n in channels.most_common()))
    langs = Counter(language_of(r) for r in records)
    print("languages:   " + ", ".join(f"{c} {n} ({n / len(records):.0%})" for c, n in langs.most_common()))
    print(f"retweets:    {sum(bool(RETWEET.match(r['text'])) for r in records)}; declared lang: "
          f"{sum('lang' in r for r in records)}; with reach: {sum('reach' in r for r in records)}")
    mix = Counter(audience(r) for r in records)
    print("audiences (playbook rules without the entity model): "
          + ", ".join(f"{a} {n} ({n / len(records):.1%})" for a, n in mix.most_common()))
    peak = Counter(r["created_at"][11:15] + ("0" if r["created_at"][15] < "5" else "5") for r in records)
    print("per 5 min:   " + " ".join(str(peak.get(f"{h:02d}:{m:02d}", 0)) for h in range(6, 12)
                                     for m in range(0, 60, 5)))
    for error in errors:
        print("ERROR", error, file=sys.stderr)
    return 1 if errors else 0


def language_of(record: dict) -> str:
    """The language the generator wrote the text in (the file declares it only sometimes)."""
    text = record["text"]
    if re.search(r"[\u0600-\u06ff]", text):
        return "ar"
    if re.search(r"[¿¡ñ]|\b(yogur|yogures|Francia|súper)\b", text):
        return "es"
    if re.search(r"[äöüß]|\b(Joghurt|Chargen|betroffen)\b", text):
        return "de"
    if re.search(r"\b(the|my|yogurt|anyone|Just|batches|is|to|that)\b", text):
        return "en"
    return "fr"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=OUTPUT, help="where to write (default: %(default)s)")
    parser.add_argument("--check", action="store_true", help="only check the existing file")
    args = parser.parse_args()
    if not args.check:
        rng = Random(SEED)
        records = generate(rng)
        broken = malformed(len(records) + 1)
        lines = [json.dumps(r, ensure_ascii=False) for r in with_relayed_rumour(records)] + broken
        args.out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return check(args.out)


if __name__ == "__main__":
    sys.exit(main())
