"""OPML import: nested folders, odd exporters, and files that are not OPML (or are hostile)."""

from __future__ import annotations

from pathlib import Path

import pytest

from connectors.opml import OpmlError, OpmlFeed, parse_opml

EXPORT = b"""<?xml version="1.0" encoding="UTF-8"?>
<opml version="2.0">
  <head><title>My subscriptions</title></head>
  <body>
    <outline text="World" title="World">
      <outline type="rss" text="World desk" title="World desk" xmlUrl="https://news.example/world.xml"
               htmlUrl="https://news.example/world"/>
      <outline text="Asia">
        <outline type="rss" text="Asia desk" xmlUrl="https://news.example/asia.xml"/>
      </outline>
    </outline>
    <outline type="rss" text="No title attr" xmlurl="HTTPS://other.example/feed"/>
    <outline type="rss" title="Duplicate" xmlUrl="https://news.example/world.xml"/>
    <outline type="rss" text="Old style" xmlUrl="feed://legacy.example/rss"/>
    <outline type="rss" text="Not pollable" xmlUrl="javascript:alert(1)"/>
    <outline type="rss" text="Empty" xmlUrl="  "/>
    <outline text="Just a note"/>
  </body>
</opml>"""


def test_nested_outlines_are_flattened_in_order() -> None:
    assert parse_opml(EXPORT, source="subs.opml") == [
        OpmlFeed("https://news.example/world.xml", "World desk", "World"),
        OpmlFeed("https://news.example/asia.xml", "Asia desk", "Asia"),
        OpmlFeed("https://other.example/feed", "No title attr", None),
        OpmlFeed("http://legacy.example/rss", "Old style", None),
    ]


def test_opml_1_without_declaration_or_head() -> None:
    data = b'<opml version="1.0"><body><outline xmlUrl="http://a.example/rss"/></body></opml>'
    assert parse_opml(data, source="old.opml") == [OpmlFeed("http://a.example/rss", None)]


def test_latin1_export() -> None:
    data = (
        '<?xml version="1.0" encoding="ISO-8859-1"?><opml><body>'
        '<outline title="Café" xmlUrl="http://cafe.example/rss"/></body></opml>'
    ).encode("latin-1")
    assert parse_opml(data, source="x.opml")[0].title == "Café"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "subs.opml: empty file, not an OPML document"),
        (
            b"<html><body>nope</body></html>",
            "subs.opml: not an OPML file (the root element is <html>)",
        ),
        (
            b'<rss version="2.0"><channel/></rss>',
            "subs.opml: not an OPML file (the root element is <rss>)",
        ),
        (
            b"<opml><body><outline></body></opml>",
            "subs.opml: not well-formed XML at line 1, column 24: mismatched tag",
        ),
        (b"just text", "subs.opml: not well-formed XML at line 1, column 1: syntax error"),
    ],
)
def test_errors_name_the_file(data: bytes, message: str) -> None:
    with pytest.raises(OpmlError) as caught:
        parse_opml(data, source="subs.opml")
    assert str(caught.value) == message


def test_billion_laughs_is_refused() -> None:
    lol = "".join(f'<!ENTITY l{i} "{f"&l{i - 1};" * 10}">' for i in range(1, 10))
    data = f'<?xml version="1.0"?><!DOCTYPE opml [<!ENTITY l0 "lol">{lol}]><opml><body>'
    data += '<outline title="&l9;" xmlUrl="http://a.example/"/></body></opml>'
    with pytest.raises(OpmlError, match=r"^bomb\.opml: a DOCTYPE with declarations"):
        parse_opml(data.encode(), source="bomb.opml")


def test_external_entity_is_refused_and_nothing_is_read(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("NEWSWATCH-SECRET-MARKER-7f3a")
    data = (
        f'<?xml version="1.0"?><!DOCTYPE opml [<!ENTITY x SYSTEM "file://{secret}">]>'
        '<opml><body><outline title="&x;" xmlUrl="http://a.example/"/></body></opml>'
    )
    with pytest.raises(OpmlError) as caught:
        parse_opml(data.encode(), source="xxe.opml")
    assert "NEWSWATCH-SECRET-MARKER" not in str(caught.value)


def test_external_dtd_is_not_fetched(tmp_path: Path) -> None:
    dtd = tmp_path / "evil.dtd"
    dtd.write_text('<!ENTITY x "NEWSWATCH-SECRET-MARKER">')
    data = (
        f'<?xml version="1.0"?><!DOCTYPE opml SYSTEM "file://{dtd}">'
        '<opml><body><outline title="t" xmlUrl="http://a.example/"/></body></opml>'
    )
    assert parse_opml(data.encode(), source="dtd.opml") == [OpmlFeed("http://a.example/", "t")]


def test_undefined_entity_is_an_error_not_a_lookup() -> None:
    data = b'<opml><body><outline title="&nope;" xmlUrl="http://a.example/"/></body></opml>'
    with pytest.raises(OpmlError, match="undefined entity"):
        parse_opml(data, source="u.opml")
