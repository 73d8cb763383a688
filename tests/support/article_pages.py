"""Article pages as news sites serve them, for the full-text tests and bench/full_text.py:
the story wrapped in navigation, a cookie banner, share buttons, related links, comments and
a footer; a paywall stub. Written in the project's own words."""

from __future__ import annotations

STORY = [
    "UK Foreign Secretary David Lammy arrived in Beijing on Friday for a two-day visit, the "
    "first by a British foreign secretary to China in six years.",
    "He met his Chinese counterpart Wang Yi at the Diaoyutai state guesthouse, where the two "
    "men discussed trade, climate finance and the war in Ukraine for more than two hours.",
    "Officials on both sides described the talks as frank. Lammy said he had raised human "
    "rights in Xinjiang and the case of the jailed publisher Jimmy Lai, and that Britain "
    "would keep speaking plainly where the two countries disagree.",
    "Wang told reporters that China was ready to work with the new government in London on "
    "what he called a stable and mutually beneficial relationship, and invited British firms "
    "to take part in next month's import fair in Shanghai.",
    "The visit follows months of preparation and is expected to lead to a trip by the "
    "Chancellor early next year. Business groups in the City welcomed the thaw, while some "
    "members of parliament urged the government to set out its red lines in public.",
    "Lammy flies on to Shanghai on Saturday to meet British companies before returning to London.",
]

BOILERPLATE = {
    "cookie banner": "We use cookies to improve your experience. Accept all cookies",
    "navigation": "Home World Business Politics Sport Opinion Podcasts",
    "share buttons": "Share on X Share on Facebook Copy link",
    "related links": "Related: Ten things to know about the Shanghai import fair",
    "comments": "Comment by reader42: Finally some sense from the Foreign Office",
    "footer": "Harbour Gazette Ltd. All rights reserved. Contact us Terms Privacy",
}


def article_page(title: str = "Lammy visits Beijing as UK and China seek a reset") -> bytes:
    paragraphs = "\n".join(f"      <p>{p}</p>" for p in STORY)
    b = BOILERPLATE
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title} | Harbour Gazette</title>
<meta property="og:title" content="{title}">
<script>window.analytics = {{"page": "article"}};</script>
<style>body {{ font-family: serif }}</style></head>
<body>
  <div id="cookie-banner" class="cookie-consent"><p>{b["cookie banner"]}</p>
    <button>Accept</button></div>
  <header><nav class="main-nav"><ul>
    {"".join(f'<li><a href="/{w.lower()}">{w}</a></li>' for w in b["navigation"].split())}
  </ul></nav></header>
  <main>
    <article>
      <h1>{title}</h1>
      <p class="byline">By Mei Chen, Asia correspondent · 18 October 2024</p>
      <div class="share"><a href="https://x.example/share">Share on X</a>
        <a href="https://facebook.example/sharer">Share on Facebook</a>
        <button>Copy link</button></div>
{paragraphs}
    </article>
    <aside class="related"><h2>Related</h2><ul>
      <li><a href="/1">{b["related links"].removeprefix("Related: ")}</a></li>
      <li><a href="/2">Markets rally as rate cut hopes grow</a></li></ul></aside>
    <section id="comments" class="comments"><h2>Comments (2)</h2>
      <div class="comment"><p>{b["comments"]}</p></div>
      <div class="comment"><p>Comment by harbourwatcher: Talk is cheap.</p></div></section>
  </main>
  <footer><p>{b["footer"]}</p></footer>
</body></html>""".encode()


PAYWALL_STUB = b"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Subscribe | Harbour Gazette</title></head>
<body><nav><a href="/">Home</a></nav>
<main><article><h1>Lammy visits Beijing</h1>
<div class="paywall"><p>This article is for subscribers.</p>
<p>Subscribe to continue reading.</p></div></article></main>
<footer>Harbour Gazette Ltd.</footer></body></html>"""
