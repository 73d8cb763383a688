"""Articles get a language when normalised; terms match inflections in the article's language."""

from __future__ import annotations

import io

import pytest

from newswatch import language
from newswatch.language import detect_language
from newswatch.rule_testing import run_query_test
from rules import Document, RuleSpec, compile_rules

# A small labelled sample of news sentences, written for this test (not from any corpus).
SAMPLE = {
    "en": [
        "The foreign secretary visited Beijing on Friday and met his Chinese counterpart.",
        "Parliament voted late last night to approve the budget after a long debate.",
        "Floods closed several roads in the north, and rescuers evacuated hundreds of homes.",
        "Shares fell sharply after the central bank raised interest rates again.",
        "The striking workers said they would return to the factory next week.",
    ],
    "fr": [
        "Le ministre des Affaires étrangères a visité Pékin vendredi et rencontré son homologue.",
        "Les députés ont adopté le budget tard dans la nuit après un long débat.",
        "Des inondations ont coupé plusieurs routes dans le nord du pays.",
        "Les actions ont chuté après la nouvelle hausse des taux de la banque centrale.",
        "Les grévistes ont annoncé qu'ils reprendraient le travail la semaine prochaine.",
    ],
    "de": [
        "Der Außenminister besuchte am Freitag Peking und traf seinen chinesischen Amtskollegen.",
        "Das Parlament hat den Haushalt nach einer langen Debatte spät in der Nacht gebilligt.",
        "Überschwemmungen haben im Norden mehrere Straßen unpassierbar gemacht.",
        "Die Aktien fielen deutlich, nachdem die Zentralbank die Zinsen erneut erhöht hatte.",
        "Die streikenden Arbeiter wollen nächste Woche in die Fabrik zurückkehren.",
    ],
    "es": [
        "El ministro de Asuntos Exteriores visitó Pekín el viernes y se reunió con su homólogo.",
        "El Parlamento aprobó el presupuesto de madrugada tras un largo debate.",
        "Las inundaciones cortaron varias carreteras en el norte del país.",
        "Las acciones cayeron con fuerza después de que el banco central subiera los tipos.",
        "Los trabajadores en huelga dijeron que volverán a la fábrica la próxima semana.",
    ],
    "it": [
        "Il ministro degli Esteri ha visitato Pechino venerdì e ha incontrato il suo omologo.",
        "Il Parlamento ha approvato il bilancio a tarda notte dopo un lungo dibattito.",
        "Le alluvioni hanno interrotto diverse strade nel nord del paese.",
        "Le azioni sono crollate dopo che la banca centrale ha alzato di nuovo i tassi.",
        "I lavoratori in sciopero hanno detto che torneranno in fabbrica la settimana prossima.",
    ],
    "pt": [
        "O ministro dos Negócios Estrangeiros visitou Pequim na sexta e reuniu-se com o homólogo.",
        "O Parlamento aprovou o orçamento de madrugada depois de um longo debate.",
        "As inundações cortaram várias estradas no norte do país.",
        "As ações caíram depois de o banco central ter voltado a subir as taxas de juro.",
        "Os trabalhadores em greve disseram que voltam à fábrica na próxima semana.",
    ],
    "nl": [
        "De minister van Buitenlandse Zaken bezocht vrijdag Peking en sprak met zijn ambtgenoot.",
        "Het parlement heeft de begroting laat in de nacht na een lang debat goedgekeurd.",
        "Overstromingen hebben in het noorden verschillende wegen afgesloten.",
        "De aandelen daalden fors nadat de centrale bank de rente opnieuw had verhoogd.",
        "De stakende arbeiders zeiden dat ze volgende week naar de fabriek terugkeren.",
    ],
}


def test_detector_accuracy_on_the_labelled_sample() -> None:
    labelled = [(lang, text) for lang, texts in SAMPLE.items() for text in texts]
    right = sum(detect_language(text) == lang for lang, text in labelled)
    accuracy = right / len(labelled)
    print(f"language detection: {right}/{len(labelled)} = {accuracy:.3f}")
    assert accuracy >= 0.95


def test_a_long_article_is_read_from_its_opening_with_the_whole_texts_answer(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Detection reads a bounded prefix; a long article (each language's sentences, in
    several orders) gets the language the whole text would give it."""
    articles = [
        (lang, texts[k], " ".join(texts[k:] + texts[:k]) * 4)
        for lang, texts in SAMPLE.items()
        for k in range(len(texts))
    ]
    assert all(len(body) > 2 * language.MAX_CHARS for _, _, body in articles)
    prefix = [detect_language(title, "", body) for _, title, body in articles]
    monkeypatch.setattr(language, "MAX_CHARS", 10**9)
    whole = [detect_language(title, "", body) for _, title, body in articles]
    assert prefix == whole == [lang for lang, _, _ in articles]


def test_too_little_text_has_no_language() -> None:
    assert detect_language("Oui") is None
    assert detect_language("", "") is None


# (language, query, an inflected form in a real sentence, a derived or other word)
CASES = [
    ("en", "visit", SAMPLE["en"][0], "The visitor centre reopened on Friday after repairs."),
    ("fr", "visiter", SAMPLE["fr"][0], "Les visiteurs ont été nombreux ce week-end au musée."),
    ("de", "besuchen", SAMPLE["de"][0], "Die Besucherzahlen im Museum stiegen im Sommer stark."),
    (
        "es",
        "visitar",
        SAMPLE["es"][0],
        "Los visitantes llenaron el museo durante el fin de semana.",
    ),
    ("it", "visitare", SAMPLE["it"][0], "I visitatori hanno riempito il museo nel fine settimana."),
    ("pt", "visitar", SAMPLE["pt"][0], "Os visitantes encheram o museu durante o fim de semana."),
    ("nl", "bezoeken", SAMPLE["nl"][0], "De bezoekers vulden het museum tijdens het weekend."),
]


@pytest.mark.parametrize(("lang", "query", "inflected", "derived"), CASES)
def test_a_term_matches_its_inflections_in_the_article_language(
    lang: str, query: str, inflected: str, derived: str
) -> None:
    index = compile_rules([RuleSpec("r", query)], {})
    detected = detect_language(inflected)
    assert detected == lang
    assert index.match(Document(title=inflected, lang=detected))
    assert not index.match(Document(title=derived, lang=detect_language(derived)))


def test_accents_fold_in_every_language() -> None:
    index = compile_rules([RuleSpec("r", "Pekin")], {})
    assert index.match(Document(title=SAMPLE["fr"][0], lang="fr"))


def test_rules_test_reads_a_text_in_its_language() -> None:
    """`newswatch rules test --query … --text …` lemmatises the text as the monitor would."""
    out, err = io.StringIO(), io.StringIO()
    text = "Le ministre britannique des Affaires étrangères a visité Pékin vendredi"
    code = run_query_test(query="visiter AND Pékin", text=text, out=out, err=err)
    assert code == 0, err.getvalue()
    assert "«visité»" in out.getvalue()


# (query, an English sentence another language's dictionary, or a second look-up, joined it to)
OTHER_LANGUAGE_JOINS = [
    ("loot AND museum", "A lot of visitors came to the museum"),  # Dutch loot -> lot
    ("uses AND password", "The user changed the password"),  # French uses -> user
    ("founding AND charter", "Researchers find the charter in an old archive"),  # found -> find
    ("nos AND king", "The son of the king spoke"),  # French nos -> son
    ("mali AND voice", "A male voice answered"),  # Italian mali -> male
]


@pytest.mark.parametrize(("query", "text"), OTHER_LANGUAGE_JOINS)
@pytest.mark.parametrize("lang", ["en", None])
def test_an_english_article_is_matched_only_through_english_forms(
    query: str, text: str, lang: str | None
) -> None:
    index = compile_rules([RuleSpec("r", query)], {})
    assert not index.match(Document(title=text, lang=lang))


def test_a_word_still_matches_its_forms_in_the_articles_own_language() -> None:
    """French `uses` is a form of `user` in a French article, and an article of unknown
    language is read in the configured default."""
    index = compile_rules([RuleSpec("r", "uses")], {})
    text = "Le temps usait les pierres du vieux pont"
    assert index.match(Document(title=text, lang="fr"))
    assert not index.match(Document(title=text))  # read as English: usait is no form of uses
    french_default = compile_rules([RuleSpec("r", "uses")], {}, default_language="fr")
    assert french_default.match(Document(title=text))
