"""A password validator for the words anyone would try first at a 健保組合."""

import re

from django.core.exceptions import ValidationError

GUESSABLE_WORDS = (
    "kenpo",
    "kempo",
    "kenkou",
    "kenko",
    "hoken",
    "kumiai",
    "mynumber",
    "myna",
    "password",
    "passw0rd",
    "qwerty",
    "admin",
    "demo-pass",
)


class GuessableWordValidator:
    """Refuses a password built on a word of GUESSABLE_WORDS ("kenpo2026", "Kenpo2026!!!!")."""

    def validate(self, password: str, user=None) -> None:
        folded = re.sub(r"[^a-z0-9-]", "", password.lower())
        for word in GUESSABLE_WORDS:
            if word in folded:
                raise ValidationError(
                    "このパスワードには推測されやすい語（%(word)s）が含まれています。",
                    code="password_guessable_word",
                    params={"word": word},
                )

    def get_help_text(self) -> str:
        return "「kenpo」「hoken」「password」など推測されやすい語は使えません。"
