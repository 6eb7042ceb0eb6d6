"""Dates and times in the current language, for texts already in the agency's local time.

English keeps the compact form the texts always had ('Tue Mar 3'); Spanish goes through
Babel's CLDR data ('mar 3 dic'); Hmong is written here, in RPA Latin letters, because
CLDR's Hmong locales (mww, hnj) are in Pahawh and Nyiakeng Puachue scripts and browsers'
Intl has no hmn at all. Hmong days are 'Hnub Ib' (Monday) to 'Hnub Xya' (Sunday); the
date is numeric, month first as US calendars and forms write it ('12/5' is December 5):
Hmong names its months by number anyway ('lub 12 hlis'), and the words would not fit an
SMS's two segments. Times are 24-hour in
every language ('21:05'), as the texts always were; the zone is the agency's
abbreviation ('CST').
"""
from __future__ import annotations

from datetime import datetime

from babel.dates import format_date

from app.i18n import current_language

HMONG_WEEKDAYS = ("Hnub Ib", "Hnub Ob", "Hnub Peb", "Hnub Plaub", "Hnub Tsib", "Hnub Rau", "Hnub Xya")


def day_text(moment: datetime, weekday: bool = True) -> str:
    """The day of a local moment, short: 'Tue Mar 3', 'mar 3 dic', 'Hnub Ob 12/3'."""
    language = current_language()
    if language == "es":
        return format_date(moment, "EEE d MMM" if weekday else "d MMM", locale="es")
    if language == "hmn":
        date = f"{moment.month}/{moment.day}"
        return f"{HMONG_WEEKDAYS[moment.weekday()]} {date}" if weekday else date
    return f"{moment:%a %b} {moment.day}" if weekday else f"{moment:%b} {moment.day}"


def time_text(moment: datetime) -> str:
    """A local moment's time of day, 24-hour: '21:05'."""
    return f"{moment:%H:%M}"
