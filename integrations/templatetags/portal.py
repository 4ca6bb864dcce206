from django import template

register = template.Library()


@register.filter
def get_item(mapping: dict, key):
    """`counts|get_item:status`: a dict's value by a key held in a variable."""
    return mapping.get(key) if hasattr(mapping, "get") else None
