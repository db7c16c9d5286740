"""Read the evidence out of a page's wikitext with mwparserfromhell: infobox, short description, categories,
wikilinks, interlanguage links and redirects."""
from __future__ import annotations

import re
from dataclasses import dataclass, field

import mwparserfromhell

_REDIRECT = re.compile(r"^\s*#\s*(redirect|weiterleitung|redirection|doorverwijzing)\b", re.IGNORECASE)
_INFOBOX_PREFIXES = ("infobox", "inligtingskas", "info/", "ficha de", "infobox/")
_CATEGORY_PREFIXES = ("category:", "kategorie:", "kategorie:", "catégorie:", "kategori:")
_LANG_LINK = re.compile(r"^[a-z]{2,3}(-[a-z]+)?$")
_NON_ARTICLE = ("file:", "image:", "datei:", "wikipedia:", "template:", "help:", "portal:", "wp:", "wikt:", "user:",
                "special:", "media:", ":")


def normalize_title(title: str) -> str:
    """MediaWiki's title normalisation: underscores to spaces, collapsed blanks, first letter upper-case."""
    t = re.sub(r"[\s_]+", " ", title).strip()
    if ":" in t:
        prefix, _, rest = t.partition(":")
        if prefix.lower() in {"category", "kategorie", "template", "file"} and rest:
            rest = rest.strip()
            return prefix.strip().capitalize() + ":" + rest[:1].upper() + rest[1:]
    return t[:1].upper() + t[1:]


def entity_name(title: str) -> str:
    """The name an entity is called by: its title without a trailing disambiguator ("Mercury (planet)" → "Mercury")."""
    return re.sub(r"\s*\([^)]*\)\s*$", "", title).strip() or title


@dataclass
class ParsedPage:
    """What one page's wikitext says about it."""

    title: str
    redirect_to: str | None = None
    infoboxes: list[str] = field(default_factory=list)
    short_description: str | None = None
    categories: list[str] = field(default_factory=list)
    links: list[str] = field(default_factory=list)
    langlinks: int = 0
    lead: str = ""


def redirect_target(text: str) -> str | None:
    """The page a redirect page points to (its first wikilink), or None for an article."""
    if not _REDIRECT.match(text):
        return None
    links = mwparserfromhell.parse(text.split("\n", 1)[0]).filter_wikilinks()
    if not links:
        return None
    return normalize_title(str(links[0].title).split("#", 1)[0]) or None


def _infobox_name(name: str) -> str | None:
    low = re.sub(r"[\s_]+", " ", re.sub(r"<!--.*?(-->|$)", "", name, flags=re.DOTALL)).strip().lower()
    if low.startswith("template:"):
        low = low[len("template:"):]
    for prefix in _INFOBOX_PREFIXES:
        if low.startswith(prefix):
            return low[len(prefix):].strip(" /") or "generic"
    return None


def parse_wikitext(title: str, text: str) -> ParsedPage:
    """Parse one page. A redirect page yields only its target."""
    page = ParsedPage(title=title)
    target = redirect_target(text)
    if target is not None:
        page.redirect_to = target
        return page
    code = mwparserfromhell.parse(text)
    for template in code.filter_templates(recursive=False):
        name = str(template.name).strip()
        box = _infobox_name(name)
        if box is not None:
            page.infoboxes.append(box)
        elif name.lower().replace("_", " ") == "short description" and template.params:
            page.short_description = str(template.params[0].value).strip()
    for link in code.filter_wikilinks():
        target_text = str(link.title).strip()
        low = target_text.lower()
        if low.startswith(_CATEGORY_PREFIXES):
            page.categories.append(normalize_title(target_text.split(":", 1)[1]))
            continue
        prefix = low.split(":", 1)[0] if ":" in low else ""
        if prefix and _LANG_LINK.match(prefix) and not low.startswith(":"):
            page.langlinks += 1
            continue
        if not target_text or low.startswith(_NON_ARTICLE):
            continue
        page.links.append(normalize_title(target_text.split("#", 1)[0]) if not target_text.startswith("#") else title)
    page.links = [link for link in page.links if link and link != title]
    sections = code.get_sections(include_lead=True, flat=True)
    page.lead = sections[0].strip_code().strip()[:2000] if sections else ""
    return page
