from qiiub.access import partners_for


def portal(request):
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    return {"user_partners": partners_for(user)}
