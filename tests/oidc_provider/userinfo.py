def userinfo(claims: dict, user) -> dict:
    """Standard claims from the provider's user: its email counts as verified."""
    claims["email"] = user.email
    claims["email_verified"] = True
    claims["preferred_username"] = user.username
    claims["name"] = user.get_full_name() or user.username
    return claims
