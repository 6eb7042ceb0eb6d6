"""Owners' languages on the server: the choice of language, the saved one, and the texts
that go out in it (SMS end to end through the local Twilio API, e-mail, push, API errors).
"""
from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from app.accounts.models import User
from app.agencies.models import Agency
from app.extensions import db
from app.footage.models import Ask, AskState
from app.i18n import in_language, language_or_none
from app.i18n.dates import day_text
from app.notifications import delivery, keywords, messages
from app.notifications.models import NotificationKind
from tests.conftest import signed_in
from tests.peers import scenario
from tests.peers.smtp_server import LocalSmtpServer
from tests.test_sms import PUBLIC, _in_memory_ask, inbound, reply_text

BAD_LINK = "/api/ask-actions/not-a-token"


# --- choosing the language -------------------------------------------------------------------

@pytest.mark.one_database
def test_language_tags_and_keywords_are_read_leniently():
    assert [language_or_none(tag) for tag in ("es-MX", "ES", "hmn", "mww", "mww-Hmnp", "fr", "", None)] == [
        "es", "es", "hmn", "hmn", None, None, None, None]
    parse = keywords.parse
    assert parse("Sí 1234") == keywords.Keyword("approve", "es", "1234")
    assert parse("si") == keywords.Keyword("approve", "es", None)
    assert parse("no footage") == keywords.Keyword("no_footage", "en", None)
    assert parse("NO 1234") == keywords.Keyword("decline", "en", "1234")
    assert parse("no 1234", "es") == keywords.Keyword("decline", "es", "1234")  # the owner's language first
    assert parse("tsis muaj 1234") == keywords.Keyword("no_footage", "hmn", "1234")
    assert parse("Ayuda!").meaning == "help" and parse("nres").meaning == "stop" and parse("ALTO").language == "es"
    assert parse("STOP", "hmn") == keywords.Keyword("stop", "en")  # the carriers' words stay English
    assert parse("hola", "es") == keywords.Keyword(None, "es")


def test_the_language_follows_the_saved_one_then_the_browser(app, world, client):
    def message(c, accept=None):
        headers = {"Accept-Language": accept} if accept else {}
        return c.post(BAD_LINK, headers=headers).json["error"]["message"]

    english = message(client)
    assert english.startswith("This link is not valid")
    assert message(client, "fr-FR, es-MX;q=0.8, en;q=0.5").startswith("Este enlace no es válido")
    assert message(client, "hmn").startswith("Txoj link no siv tsis tau")
    assert message(client, "fr, de") == english
    owner = signed_in(app, world.owner)
    assert message(owner, "es") == message(client, "es")  # no language saved: the browser's
    world.owner.language = "hmn"
    db.session.commit()
    assert message(owner, "es").startswith("Txoj link no siv tsis tau")


def test_owners_save_a_language_and_read_it_back(app, world, as_owner, client):
    assert as_owner.get("/api/auth/me").json["language"] is None
    r = as_owner.patch("/api/auth/me", json={"language": "es"})
    assert r.status_code == 200 and r.json["language"] == "es"
    assert as_owner.get("/api/auth/me").json["language"] == "es"
    r = as_owner.patch("/api/auth/me", json={"language": "fr"})
    assert r.status_code == 422 and "language" in r.json["error"]["fields"]
    assert as_owner.patch("/api/auth/me", json={"language": None}).json["language"] is None
    r = client.post("/api/auth/signup", json={"email": "nueva@example.org", "password": "a long enough secret 1",
                                              "language": "hmn"})
    assert r.status_code == 201 and r.json["language"] == "hmn"
    config = client.get("/api/app-config").json["languages"]
    assert config == [{"code": "en", "name": "English"}, {"code": "es", "name": "Español"},
                      {"code": "hmn", "name": "Hmoob"}]


# --- SMS, end to end --------------------------------------------------------------------------

def test_a_spanish_speaking_owner_gets_and_answers_the_ask_in_spanish(sms_app, twilio):
    from tests import factories

    world = factories.World.build()
    owner = scenario.owner(phone=scenario.phone_number(), language="es")
    _, (ask,), ids = scenario.issue(world.agency, [owner], case_number="2026-00777")
    assert delivery.deliver(ids).sent == 1
    (sent,) = twilio.to(owner.phone)
    code = ask.reply_code
    assert "pide video de" in sent.body and f"Responda SI {code} para compartir, NO {code}" in sent.body
    assert messages.sms_segments(sent.body) <= 2 and "á" not in sent.body
    client = sms_app.test_client()
    assert "Gracias. Suba su video" in reply_text(inbound(client, owner.phone, f"Sí {code}"))
    db.session.expire_all()
    assert db.session.get(Ask, ask.id).state == AskState.APPROVED
    assert "Para responder, envie SI, NO o NADA" in reply_text(inbound(client, owner.phone, "AYUDA"))
    assert "ALTA para volver" in reply_text(inbound(client, owner.phone, "alto"))


def test_a_hmong_keyword_answers_in_hmong_and_saves_the_language(sms_app, twilio):
    from tests import factories

    world = factories.World.build()
    owner = scenario.owner(phone=scenario.phone_number())
    _, (ask,), ids = scenario.issue(world.agency, [owner])
    delivery.deliver(ids)
    (sent,) = twilio.to(owner.phone)
    assert f"Reply YES {ask.reply_code}" in sent.body  # no language saved: English
    client = sms_app.test_client()
    assert reply_text(inbound(client, owner.phone, f"yog {ask.reply_code}")).startswith("Ua tsaug.")
    db.session.expire_all()
    assert db.session.get(User, owner.id).language == "hmn"
    assert "Los teb, xa YOG, TSIS los yog TSIS MUAJ" in reply_text(inbound(client, owner.phone, "PAB"))
    assert "Thov txim" in reply_text(inbound(client, owner.phone, "nyob zoo"))


def test_every_sms_keeps_within_two_segments_in_every_language(make_app):
    with make_app(PUBLIC_BASE_URL=PUBLIC).app_context():
        agency = Agency(id=1, name="Metropolitan Nashville Police Department", timezone="America/Chicago")
        ask = _in_memory_ask(agency, ask_id=9_999_999, code="4821", label="Front porch camera " * 6 + "end",
                             case="CR-2026-00012345", start=datetime(2025, 12, 6, 5, 30, tzinfo=UTC))
        ask.responded_at = ask.request.window_start  # an approved ask: the notices' longest form
        many = [_in_memory_ask(agency, ask_id=i, code=f"{1000 + i}", label="Front porch camera " * 6,
                               case=f"{i:016d}", start=datetime(2025, 12, 6, 5, 30, tzinfo=UTC)) for i in range(12)]
        names = [agency.name, "Milwaukee County Sheriff's Office Patrol", "Shorewood Village Police Department"]
        for language in ("en", "es", "hmn"):
            with in_language(language):
                texts = {f"ask {kind.value}": messages.sms_text(kind, ask, ask.request, agency)
                         for kind in (NotificationKind.REQUEST, NotificationKind.ESCALATION,
                                      NotificationKind.REMINDER)}
                texts |= {f"notice {kind.value}": messages.notice_sms_text(kind, ask, ask.request, agency)
                          for kind in (NotificationKind.WITHDRAWN, NotificationKind.EXPIRED)}
                texts |= {"help": messages.help_text(names), "help alone": messages.help_text([]),
                          "start": messages.start_text(names), "stop": messages.stop_text(),
                          "code": messages.verification_sms_text("123456", names),
                          "claimed": messages.number_claimed_sms_text(),
                          "not understood": messages.not_understood_text(), "not linked": messages.not_linked_text(),
                          "choose": messages.open_asks_text("12 requests are open. ", many, "NONE")}
                for name, text in texts.items():
                    assert messages.sms_segments(text) <= 2, (language, name, len(text), text)
                    assert language == "en" or messages.sms_segments(text.replace(ask.camera_label, "")) <= 2


# --- e-mail, push, dates --------------------------------------------------------------------------

def test_an_ask_email_to_a_spanish_speaking_owner_is_in_spanish(app, world, tmp_path):
    owner = scenario.owner(notify_email=True, notify_push=False, notify_sms=False, language="es")
    with LocalSmtpServer(tmp_path) as smtp:
        app.config.update(smtp.settings())
        _, (ask,), ids = scenario.issue(world.agency, [owner], case_number="2026-00777")
        assert delivery.deliver(ids).sent == 1
        [received] = smtp.wait_for(1)
        from app.notifications import mail
        mail.close(app)
    assert received.message["Subject"] == f'Riverside Police Department pide video de su cámara "{ask.camera_label}"'
    for part in (received.text, received.html):
        assert "Horario solicitado" in part and "Compartir es su decisión" in part and "caso 2026-00777" in part
    assert '<html lang="es">' in received.html and "Aprobar: compartir video" in received.html


def test_a_push_payload_in_hmong_and_dates_written_in_latin_letters(make_app):
    with make_app(PUBLIC_BASE_URL=PUBLIC).app_context():
        agency = Agency(id=1, name="Riverside Police Department", timezone="America/Chicago")
        ask = _in_memory_ask(agency, ask_id=7, code="4821", label="Gate", case="26-0412",
                             start=datetime(2025, 12, 2, 20, 0, tzinfo=UTC))
        with in_language("hmn"):
            payload = json.loads(messages.push_payload(NotificationKind.REMINDER, ask, ask.request, agency))
            assert payload["title"] == "Nco ntsoov: Riverside Police Department thov video"
            assert payload["body"] == "Gate · Hnub Ob 12/2 14:00-15:00 CST · rooj plaub 26-0412"
            assert day_text(datetime(2026, 3, 8), weekday=True) == "Hnub Xya 3/8"
        with in_language("es"):
            assert day_text(datetime(2026, 3, 8)) == "dom 8 mar"
            body = json.loads(messages.push_payload(NotificationKind.REQUEST, ask, ask.request, agency))["body"]
            assert body == "Gate · mar 2 dic 14:00-15:00 CST · caso 26-0412"
        assert all(ord(ch) < 0x2000 for ch in payload["body"] + payload["title"])  # no Pahawh or Nyiakeng letters


def test_password_reset_text_and_the_unsubscribe_page_follow_the_owner(app, world, client):
    world.owner.language = "es"
    db.session.commit()
    from app import links

    page = client.get(links.unsubscribe_link(world.owner.id).removeprefix(links.base_url()))
    assert page.status_code == 200 and '<html lang="es">' in page.get_data(as_text=True)
    assert "Dejar de recibir correos sobre solicitudes" in page.get_data(as_text=True)
    bad = client.get("/unsubscribe/nonsense", headers={"Accept-Language": "hmn"})
    assert "Txoj link no siv tsis tau" in bad.get_data(as_text=True)
    assert db.session.scalar(sa.select(User.language).where(User.id == world.owner.id)) == "es"
