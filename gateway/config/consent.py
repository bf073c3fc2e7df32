"""A site's consent configuration: categories, banner texts and the policies around them.

Parsed once from the site's TOML table into frozen values. ``ConsentPolicy.payload`` is the whole
configuration in every language, built-in wording included; its hash identifies exactly what a
visitor was shown: the consent log records it with every decision, and the payload itself is stored
once per hash so the site owner can prove the wording later. ``GET /consent`` hands the banner the
same configuration in one language (``ShownBanner.pick``).
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from typing import Any

from gateway.config.errors import ConfigError, Problems, unknown_key
from gateway.config.tables import choice, flag, integer, no_unknown, text, text_list
from gateway.config.texts import (
    DEFAULT_CATEGORY_TEXTS,
    DEFAULT_TEXTS,
    LATER_KEYS,
    LATER_KEYS_IN_ENGLISH,
    TEXT_KEYS,
    best_language,
    text_direction,
)

NECESSARY = "necessary"
ANALYTICS = "analytics"
MARKETING = "marketing"
MAX_LIFETIME_DAYS = 396  # 13 months, the longest consent lifetime regulators accept
POSITIONS = ("bottom", "center", "corner")
THEMES = ("auto", "light", "dark")
SCOPES = ("everywhere", "opt-in-only")
LANGUAGE = re.compile(r"[a-z]{2,3}(-[A-Za-z0-9]{2,8})*")
CATEGORY_ID = re.compile(r"[a-z][a-z0-9_-]{0,31}")
MAX_TEXT = 2000
BANNER_KEYS = ("position", "theme", "language", "privacy_policy_url", "texts")

Texts = dict[str, str]  # language -> text


class ConsentConfigError(ConfigError):
    """Invalid consent configuration; each problem names its key."""


@dataclass(frozen=True, slots=True)
class Category:
    id: str
    label: Texts = field(default_factory=dict)
    description: Texts = field(default_factory=dict)
    services: tuple[str, ...] = ()
    cookies: tuple[str, ...] = ()  # cookie names the banner clears when the category is withdrawn

    @property
    def required(self) -> bool:
        return self.id == NECESSARY


DEFAULT_CATEGORIES = (Category(NECESSARY), Category(ANALYTICS), Category(MARKETING))


@dataclass(frozen=True, slots=True)
class Banner:
    position: str = "bottom"
    theme: str = "auto"
    language: str = ""  # a site override of the page's language
    privacy_policy_url: Texts = field(default_factory=dict)  # language -> URL; "" key: any language
    texts: dict[str, Texts] = field(default_factory=dict)  # language -> {text key -> text}


@dataclass(frozen=True, slots=True)
class ConsentPolicy:
    """How a site asks: categories, banner, lifetime, and what GPC/DNT and jurisdiction change."""

    categories: tuple[Category, ...] = DEFAULT_CATEGORIES
    banner: Banner = field(default_factory=Banner)
    lifetime_days: int = 182
    cookie_domain: str = ""
    gpc_is_refusal: bool = True
    honour_dnt: bool = False
    banner_scope: str = "everywhere"
    opt_out_defaults: tuple[str, ...] = (ANALYTICS,)  # granted by default where opt-out law applies

    @property
    def category_ids(self) -> frozenset[str]:
        return frozenset(c.id for c in self.categories)

    @property
    def languages(self) -> list[str]:
        """Every language the banner can speak: the built-in ones and the site's own."""
        return [*DEFAULT_TEXTS, *(lang for lang in self.banner.texts if lang not in DEFAULT_TEXTS)]

    def payload(self, policy_version: str) -> dict[str, Any]:
        """The full banner configuration in every language, defaults included: what is hashed and
        stored as proof of the wording shown."""
        banner = self.banner
        # A language without built-in texts falls back to English for the keys added after 1.0 only.
        texts = {lang: DEFAULT_TEXTS.get(lang, LATER_KEYS_IN_ENGLISH) | banner.texts.get(lang, {})
                 for lang in self.languages}
        return {
            "policy_version": policy_version,
            "position": banner.position, "theme": banner.theme, "language": banner.language,
            "privacy_policy_url": banner.privacy_policy_url, "texts": texts,
            "categories": [{"id": c.id, "required": c.required, "label": _category_texts(c, 0) | c.label,
                            "description": _category_texts(c, 1) | c.description,
                            "services": list(c.services), "cookies": list(c.cookies)}
                           for c in self.categories],
        }

    def shown(self, policy_version: str) -> ShownBanner:
        payload = self.payload(policy_version)
        canonical = json.dumps(payload, sort_keys=True, ensure_ascii=False)
        config_hash = hashlib.sha256(canonical.encode()).hexdigest()[:16]
        localized = {lang: localize(payload, lang) | {"config_hash": config_hash} for lang in self.languages}
        return ShownBanner(payload, config_hash, canonical, localized)


def _category_texts(category: Category, index: int) -> Texts:
    return {lang: pair[index] for lang, pair in DEFAULT_CATEGORY_TEXTS.get(category.id, {}).items()}


def _in(texts: Texts, language: str, fallback: str) -> str:
    return texts.get(language) or texts.get("en") or next(iter(texts.values()), fallback)


def localize(payload: dict[str, Any], language: str) -> dict[str, Any]:
    """The configuration in one language, as ``GET /consent`` hands it to the banner."""
    urls = payload["privacy_policy_url"]
    return {
        "policy_version": payload["policy_version"], "position": payload["position"],
        "theme": payload["theme"], "language": language, "dir": text_direction(language),
        "privacy_policy_url": urls.get(language) or urls.get("") or urls.get("en", ""),
        "texts": payload["texts"][language],
        "categories": [{"id": c["id"], "required": c["required"], "label": _in(c["label"], language, c["id"]),
                        "description": _in(c["description"], language, ""), "services": c["services"],
                        "cookies": c["cookies"]} for c in payload["categories"]],
    }


@dataclass(frozen=True, slots=True)
class ShownBanner:
    """A site's banner configuration as served, computed once at start-up: what GET /consent
    returns, its hash (logged with every decision) and the canonical JSON stored for proof."""

    payload: dict[str, Any]
    config_hash: str
    canonical: str
    localized: dict[str, dict[str, Any]]  # language -> what GET /consent returns as "banner"

    def pick(self, candidates: list[str]) -> dict[str, Any]:
        """The banner in the first candidate language it speaks, else English."""
        return self.localized[best_language(candidates, list(self.localized)) or "en"]


CONSENT_KEYS = {
    "consent_lifetime_days": f"days a decision (grant or refusal) is kept, 1..{MAX_LIFETIME_DAYS}; "
                             "default 182",
    "cookie_domain": "Domain attribute of the consent cookie, e.g. .example.com when the gateway runs "
                     "on stats.example.com; default: the gateway's host",
    "gpc_is_refusal": "record Sec-GPC: 1 alone as a refusal (source gpc); default true",
    "honour_dnt": "treat DNT: 1 like GPC; default false",
    "banner_scope": "everywhere (default, the strictest) or opt-in-only: where opt-out law applies, "
                    "opt_out_defaults are granted without a banner (source regime)",
    "opt_out_defaults": "categories granted by default where opt-out law applies; default [\"analytics\"]",
    "banner": "table: position (bottom, center, corner), theme (auto, light, dark), language (always "
              "use this one), privacy_policy_url (URL or {language = URL}), texts.LANGUAGE.KEY over the "
              "built-in en, de, fr, es, zh-CN (another language must give every key)",
    "categories": "array of tables: id, label and description ({language = text}), services, cookies; "
                  "default necessary, analytics, marketing",
}


def consent_policy_from_table(table: dict[str, Any], where: str) -> ConsentPolicy:
    """The consent keys of a site's table; raises a ConsentConfigError listing every key at fault."""
    problems = Problems()
    lifetime = problems.attempt(
        lambda: integer(table, "consent_lifetime_days", 182, 1, MAX_LIFETIME_DAYS, where), 182)
    domain = problems.attempt(lambda: _cookie_domain(table, where), "")
    scope = problems.attempt(lambda: choice(table, "banner_scope", SCOPES, where), SCOPES[0])
    categories = problems.attempt(lambda: _categories(table.get("categories"), f"{where}.categories"), None)
    defaults: list[str] = problems.attempt(lambda: _opt_out_defaults(table, scope, categories, where), [])
    banner = problems.attempt(lambda: _banner(table.get("banner", {}), f"{where}.banner"), Banner())
    gpc_is_refusal = problems.attempt(lambda: flag(table, "gpc_is_refusal", True, where), True)
    honour_dnt = problems.attempt(lambda: flag(table, "honour_dnt", False, where), False)
    problems.raise_if_any(ConsentConfigError)
    assert categories is not None
    return ConsentPolicy(categories=categories, banner=banner, lifetime_days=lifetime, cookie_domain=domain,
                         gpc_is_refusal=gpc_is_refusal, honour_dnt=honour_dnt, banner_scope=scope,
                         opt_out_defaults=tuple(defaults))


def _cookie_domain(table: dict[str, Any], where: str) -> str:
    domain = text(table, "cookie_domain", "", where)
    if domain and not re.fullmatch(r"\.?[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+", domain):
        raise ConsentConfigError(f"{where}.cookie_domain: {domain!r} is not a domain like .example.com")
    return domain


def _opt_out_defaults(table: dict[str, Any], scope: str, categories: tuple[Category, ...] | None,
                      where: str) -> list[str]:
    defaults = text_list(table, "opt_out_defaults", [ANALYTICS], where)
    if categories is None:  # already reported; which ids exist is unknown
        return defaults
    ids = {c.id for c in categories}
    if scope == "opt-in-only" or "opt_out_defaults" in table:
        if unknown := sorted(set(defaults) - ids):
            raise ConsentConfigError(f"{where}.opt_out_defaults: unknown category {unknown[0]!r} "
                                     f"(categories: {', '.join(c.id for c in categories)})")
        return defaults
    return [d for d in defaults if d in ids]  # unused unless the site asks only where opt-in applies


def _categories(raw: object, where: str) -> tuple[Category, ...]:
    if raw is None:
        return DEFAULT_CATEGORIES
    if not isinstance(raw, list) or not all(isinstance(t, dict) for t in raw):
        raise ConsentConfigError(f"{where}: must be an array of tables")
    found: list[Category] = []
    for index, table in enumerate(raw):
        here = f"{where}[{index}]"
        no_unknown(table, {"id", "label", "description", "services", "cookies"}, here)
        category_id = text(table, "id", "", here)
        if not CATEGORY_ID.fullmatch(category_id):
            raise ConsentConfigError(f"{here}.id: must be a short lower-case identifier, got {category_id!r}")
        if any(c.id == category_id for c in found):
            raise ConsentConfigError(f"{here}.id: {category_id!r} is used twice")
        found.append(Category(category_id, _texts(table.get("label", {}), f"{here}.label"),
                              _texts(table.get("description", {}), f"{here}.description"),
                              tuple(text_list(table, "services", [], here)),
                              tuple(text_list(table, "cookies", [], here))))
    if not found or found[0].id != NECESSARY:
        raise ConsentConfigError(f"{where}: the first category must be {NECESSARY!r} (always on)")
    return tuple(found)


def _banner(raw: object, where: str) -> Banner:
    if not isinstance(raw, dict):
        raise ConsentConfigError(f"{where}: must be a table")
    problems = Problems()
    problems.unknown_keys(raw, BANNER_KEYS, f"{where}.")
    language = problems.attempt(lambda: _language_key(raw, where), "")
    urls: Texts = problems.attempt(lambda: _policy_urls(raw.get("privacy_policy_url", {}), where), {})
    texts = problems.attempt(lambda: _all_texts(raw.get("texts", {}), f"{where}.texts"), None)
    if language and language not in DEFAULT_TEXTS and texts is not None and language not in texts:
        problems.add(f"{where}.language: no texts for {language!r}: use one of {', '.join(DEFAULT_TEXTS)} "
                     f"or add [sites.banner.texts.{language}]")
    position = problems.attempt(lambda: choice(raw, "position", POSITIONS, where), POSITIONS[0])
    theme = problems.attempt(lambda: choice(raw, "theme", THEMES, where), THEMES[0])
    problems.raise_if_any(ConsentConfigError)
    return Banner(position=position, theme=theme, language=language, privacy_policy_url=urls,
                  texts=texts or {})


def _language_key(raw: dict[str, Any], where: str) -> str:
    language = text(raw, "language", "", where)
    if language and not LANGUAGE.fullmatch(language):
        raise ConsentConfigError(f"{where}.language: {language!r} is not a language tag")
    return language


def _policy_urls(raw: object, where: str) -> Texts:
    urls = {"": raw} if isinstance(raw, str) else _texts(raw, f"{where}.privacy_policy_url")
    for language_key, url in urls.items():
        if not re.match(r"https?://|/", url):
            suffix = f".{language_key}" if language_key else ""
            raise ConsentConfigError(f"{where}.privacy_policy_url{suffix}: must be an http(s) URL or a path")
    return urls


def _all_texts(raw: object, where: str) -> dict[str, Texts]:
    if not isinstance(raw, dict):
        raise ConsentConfigError(f"{where}: must be a table of languages")
    return {lang: _banner_texts(lang, value, where) for lang, value in raw.items()}


def _banner_texts(language: str, raw: object, where: str) -> Texts:
    _language(language, where)
    texts = _texts(raw, f"{where}.{language}", keys_are_languages=False)
    if unknown := sorted(set(texts) - set(TEXT_KEYS)):
        raise ConsentConfigError(f"{where}.{language}.{unknown[0]}: "
                                 f"{unknown_key(unknown[0], TEXT_KEYS, 'text key')}")
    if blank := [key for key, value in texts.items() if not value.strip()]:
        raise ConsentConfigError(f"{where}.{language}.{blank[0]}: must not be blank (a button or dialog "
                                 "without a name is neither accessible nor fair)")
    missing = [key for key in TEXT_KEYS if key not in texts and key not in LATER_KEYS]
    if language not in DEFAULT_TEXTS and missing:
        raise ConsentConfigError(f"{where}.{language}: a language without built-in texts needs every key; "
                                 f"missing: {', '.join(missing)}")
    return texts


def _texts(raw: object, where: str, *, keys_are_languages: bool = True) -> Texts:
    if not isinstance(raw, dict) or not all(isinstance(v, str) for v in raw.values()):
        raise ConsentConfigError(f"{where}: must be a table of strings")
    for key, value in raw.items():
        if keys_are_languages:
            _language(key, where)
        if len(value) > MAX_TEXT:
            raise ConsentConfigError(f"{where}.{key}: longer than {MAX_TEXT} characters")
    return dict(raw)


def _language(tag: str, where: str) -> bool:
    if not LANGUAGE.fullmatch(tag):
        raise ConsentConfigError(f"{where}.{tag}: not a language tag like en or zh-CN")
    return True
