import json

from django import forms
from django.db import models


class OrderedJSONField(models.TextField):
    """JSON kept as text, so object key order survives (jsonb sorts keys). Used for JSON Schemas,
    whose property order is the order a generated form shows its fields in."""

    def from_db_value(self, value, expression, connection):
        return None if value is None else json.loads(value)

    def to_python(self, value):
        if isinstance(value, str):
            try:
                return json.loads(value)
            except json.JSONDecodeError as error:
                raise models.ValidationError(f"Not valid JSON: {error.msg}") from error
        return value

    def get_prep_value(self, value):
        return None if value is None else json.dumps(value, ensure_ascii=False)

    def value_to_string(self, obj):
        return self.get_prep_value(self.value_from_object(obj))

    def formfield(self, **kwargs):
        return forms.JSONField(**{"widget": forms.Textarea(attrs={"rows": 16}), **kwargs})
