"""The privacy notice: the analytics and consent section of a site's privacy policy, from its configuration.

``build_notice`` turns a site, the settings and one of the five built-in languages into a structured
``Notice``: what is recorded (the ISP only when an ASN database is configured), what never is, the
purpose of each consent category in the banner's own words, retention, consent lifetime and proof
period, recipients, and how each right is used from the banner. It reads configuration only, never
the database, so the CLI prints it offline and a changed configuration changes the text.

The renderers escape every string: the templates hold no markup, and whatever came from the
configuration (site name, category labels, services) is text, never HTML or Markdown.
"""

from __future__ import annotations

import html
import json
import re
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from gateway.config.consent import ANALYTICS, NECESSARY, localize
from gateway.config.sites import Site
from gateway.config.texts import best_language, text_direction
from gateway.consent.cookie import cookie_name
from gateway.rights.notice_texts import NOTICE_TEXTS, Template

if TYPE_CHECKING:
    from gateway.config.settings import Settings

LANGUAGES = tuple(NOTICE_TEXTS)
FORMATS = ("html", "md", "json")
COLLECTED = ("pages", "actions", "device", "os", "browser", "screen", "language", "location")


@dataclass(frozen=True, slots=True)
class Item:
    label: str
    text: str


@dataclass(frozen=True, slots=True)
class Section:
    id: str  # collected, never-stored, purposes, retention, recipients, rights
    title: str
    paragraphs: tuple[str, ...]
    items: tuple[Item, ...] = ()


@dataclass(frozen=True, slots=True)
class Facts:
    """The configuration the text says, for machines (the JSON twin) and tests."""

    retention_days: int
    consent_lifetime_days: int
    proof_days: int
    isp: bool  # an ASN database is configured, so the provider is recorded
    analytics: bool  # the banner has an analytics category: without it nothing is recorded
    categories: tuple[str, ...]
    default_on_without_banner: tuple[str, ...]  # banner_scope opt-in-only: granted where opt-out law applies
    refusal_signals: tuple[str, ...]  # gpc, dnt
    consent_cookie: str


@dataclass(frozen=True, slots=True)
class Notice:
    site_id: int
    site_name: str
    policy_version: str
    language: str
    dir: str
    title: str
    intro: str
    sections: tuple[Section, ...]
    facts: Facts


def choose_language(candidates: list[str]) -> str | None:
    """The first candidate the notice is written in (``de-AT`` → ``de``), as the banner matches tags."""
    return best_language([c for c in candidates if c], list(LANGUAGES))


class _Words:
    """One language's templates; configuration goes in as format values, never as a template."""

    def __init__(self, language: str) -> None:
        self.texts: dict[str, Template] = NOTICE_TEXTS[language]

    def __call__(self, key: str, **values: str) -> str:
        template = self.texts[key]
        assert isinstance(template, str), key
        return template.format(**values)

    def item(self, key: str, **values: str) -> Item:
        template = self.texts[key]
        assert isinstance(template, tuple), key
        return Item(template[0], template[1].format(**values))

    def days(self, count: int) -> str:
        return self("day") if count == 1 else self("days", n=str(count))


def build_notice(site: Site, settings: Settings, language: str) -> Notice:
    """The notice for ``site`` in ``language`` (one of ``LANGUAGES``)."""
    if language not in NOTICE_TEXTS:
        raise ValueError(f"no privacy notice in {language!r}; languages: {', '.join(LANGUAGES)}")
    words = _Words(language)
    policy = site.consent
    shown = localize(policy.payload(site.policy_version), language)  # the banner's words in this language
    button: dict[str, str] = shown["texts"]
    categories: list[dict[str, Any]] = shown["categories"]
    label = {c["id"]: str(c["label"]) for c in categories}
    analytics = ANALYTICS in label
    isp = settings.geoip_asn_db is not None
    defaults = policy.opt_out_defaults if policy.banner_scope == "opt-in-only" else ()
    signals = (("gpc",) if policy.gpc_is_refusal else ()) + (("dnt",) if policy.honour_dnt else ())
    facts = Facts(retention_days=site.retention_days, consent_lifetime_days=policy.lifetime_days,
                  proof_days=site.proof_days, isp=isp, analytics=analytics, categories=tuple(label),
                  default_on_without_banner=tuple(defaults), refusal_signals=signals,
                  consent_cookie=cookie_name(site.id))

    if analytics:
        recorded = (*COLLECTED, *(("isp",) if isp else ()), "visitor")
        collected = Section("collected", words("collected"),
                            (words("collected_intro", analytics=label[ANALYTICS]),),
                            tuple(words.item(key) for key in recorded))
    else:
        collected = Section("collected", words("collected"), (words("no_analytics"),))
    never = Section("never-stored", words("never"), (),
                    (words.item("never_ip"), words.item("never_identity"), words.item("never_elsewhere")))

    purposes_text = [words("purposes_intro", necessary=label.get(NECESSARY, NECESSARY))]
    if defaults:
        purposes_text.append(words("opt_out", categories=words("list_sep").join(label[c] for c in defaults),
                                   settings_title=button["settings_title"]))
    purposes = Section("purposes", words("purposes"), tuple(purposes_text),
                       tuple(_category(words, c, button["services"]) for c in categories))

    retention = Section("retention", words("retention"), (), (
        words.item("retention_events", days=words.days(site.retention_days)),
        words.item("retention_choice", days=words.days(policy.lifetime_days), cookie=facts.consent_cookie),
        words.item("retention_proof", days=words.days(site.proof_days)),
    ))
    recipients = Section("recipients", words("recipients"), (words("recipients_text", site=site.name),))

    rights_items = [words.item("withdraw", save=button["save"], reject_all=button["reject_all"])]
    if analytics:
        rights_items.append(words.item("object", analytics=label[ANALYTICS]))
    rights_items += [words.item("access", download=button["download_data"]),
                     words.item("erase", erase=button["erase_data"]), words.item("request")]
    if signals:
        rights_items.append(words.item("signals", signals=words("or").join(words(s) for s in signals)))
    how = words("rights_intro", settings_title=button["settings_title"], receipt=button["receipt"])
    rights = Section("rights", words("rights"), (how,), tuple(rights_items))

    return Notice(site_id=site.id, site_name=site.name, policy_version=site.policy_version, language=language,
                  dir=text_direction(language), title=words("title"),
                  intro=words("intro", site=site.name, policy=site.policy_version),
                  sections=(collected, never, purposes, retention, recipients, rights), facts=facts)


def _category(words: _Words, category: dict[str, Any], services_label: str) -> Item:
    parts = [str(category["description"])] if category["description"] else []
    if category["services"]:
        parts.append(words("services_fmt", label=services_label,
                           list=words("list_sep").join(category["services"])))
    return Item(str(category["label"]), words("sentence_sep").join(parts))


def render(notice: Notice, fmt: str) -> str:
    """The notice as ``html`` (a fragment), ``md`` (Markdown) or ``json``."""
    if fmt == "html":
        return to_html(notice)
    if fmt == "md":
        return to_markdown(notice)
    if fmt == "json":
        return json.dumps(asdict(notice), ensure_ascii=False, indent=2) + "\n"
    raise ValueError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")


def _label_sep(notice: Notice) -> str:
    return str(NOTICE_TEXTS[notice.language]["label_sep"])


# Inline Markdown that configuration text could trigger (links, emphasis, code, raw HTML, tables,
# entities); an underscore only at a word's edge, so cookie names stay readable.
MD_SPECIAL = re.compile(r"[\\`*\[\]<>|~&#]|(?<![A-Za-z0-9])_|_(?![A-Za-z0-9])")


def _md(text: str) -> str:
    return MD_SPECIAL.sub(lambda m: "\\" + m.group(0), " ".join(text.split()))


def to_markdown(notice: Notice) -> str:
    lines = [f"## {_md(notice.title)}", "", _md(notice.intro)]
    for section in notice.sections:
        lines += ["", f"### {_md(section.title)}"]
        for paragraph in section.paragraphs:
            lines += ["", _md(paragraph)]
        if section.items:
            lines.append("")
        for item in section.items:
            text = f"{_label_sep(notice)}{_md(item.text)}" if item.text else ""
            lines.append(f"- **{_md(item.label)}**{text}")
    return "\n".join(lines) + "\n"


def to_html(notice: Notice) -> str:
    e = html.escape
    out = [f'<section class="privacy-notice" lang="{e(notice.language)}" dir="{e(notice.dir)}" '
           f'data-site="{notice.site_id}" data-policy-version="{e(notice.policy_version)}">',
           f"<h2>{e(notice.title)}</h2>", f"<p>{e(notice.intro)}</p>"]
    for section in notice.sections:
        out += [f'<section data-part="{e(section.id)}">', f"<h3>{e(section.title)}</h3>"]
        out += [f"<p>{e(paragraph)}</p>" for paragraph in section.paragraphs]
        if section.items:
            out.append("<ul>")
            for item in section.items:
                text = f"{e(_label_sep(notice))}{e(item.text)}" if item.text else ""
                out.append(f"<li><strong>{e(item.label)}</strong>{text}</li>")
            out.append("</ul>")
        out.append("</section>")
    out.append("</section>")
    return "\n".join(out) + "\n"
