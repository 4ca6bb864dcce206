"""The portal's English date formats: Django's, with times as "9:47 PM" rather than "9:47 p.m.",
so a time that ends a sentence does not end it with two periods."""

from django.conf.locale.en.formats import *  # noqa: F403

DATETIME_FORMAT = "N j, Y, g:i A"
SHORT_DATETIME_FORMAT = "m/d/Y g:i A"
TIME_FORMAT = "g:i A"
