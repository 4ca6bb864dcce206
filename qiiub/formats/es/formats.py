"""Number and date formats for the portal's Spanish: Puerto Rico's (Django's es_PR), served as
`es`. Puerto Rico uses the dollar with a decimal point and comma grouping, like the US."""

from django.conf.locale.es_PR.formats import *  # noqa: F403
