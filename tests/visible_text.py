"""The English a page shows: the check behind "every page a clerk reads is Japanese"."""

import re
from html.parser import HTMLParser

# Words of the libraries' English UI (case-sensitive: as the templates write them).
DENY = [
    "Save",
    "Delete",
    "History",
    "Change",
    "Add",
    "Filter",
    "Search",
    "Object",
    "Comment",
    "Changed by",
    "Change reason",
    "None",
    "Import",
    "Export",
    "Submit",
    "Confirm",
    "Some rows",
    "row",
    "Row",
    "Errors",
    "Created",
    "Changed",
    "Deleted",
    "Date/time",
    "Revert",
    "entries",
    "entry",
    "Home",
    "Preview",
    "Skipped",
    "Close",
    "Line number",
    "Resource",
    "Format",
    "Select all",
    "View",
    "Forbidden",
    "Not Found",
    "Server Error",
    "Welcome",
    "Log out",
    "results",
    "Yes",
    "Unknown",
    "Today",
    "Show",
]
DENY_PATTERN = re.compile(r"\b(" + "|".join(re.escape(word) for word in DENY) + r")\b")


class VisibleText(HTMLParser):
    """Text a person sees: text nodes outside script/style, and the labels of buttons."""

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "style", "template"):
            self._skip += 1
        attributes = dict(attrs)
        if tag == "input" and attributes.get("type") in ("submit", "button", "reset"):
            self.parts.append(attributes.get("value") or "")

    def handle_endtag(self, tag):
        if tag in ("script", "style", "template") and self._skip:
            self._skip -= 1

    def handle_data(self, data):
        if not self._skip:
            self.parts.append(data)


def english_words(html: str) -> list[str]:
    parser = VisibleText()
    parser.feed(html)
    text = " ".join(" ".join(parser.parts).split())
    return sorted({match.group(0) for match in DENY_PATTERN.finditer(text)})


_COLUMN_HEADER = re.compile(r'<th scope="col"[^>]*>(.*?)</th>', re.S)
_TAG = re.compile(r"<[^>]+>")


def english_column_headers(html: str) -> list[str]:
    """List columns named only in ASCII: a method shown without a Japanese description
    (Django prints its name, e.g. "FULL NAME"); "PDF作成" is fine."""
    headers = (" ".join(_TAG.sub(" ", cell).split()) for cell in _COLUMN_HEADER.findall(html))
    return [header for header in headers if header and header.isascii()]
