"""Error reports (the DEBUG page, error mail) without My Numbers (domain.md §11).

Django's SafeExceptionReporterFilter hides settings named like keys and the POST fields
a view marks sensitive; the local variables of every frame are still shown, and a typed
number sits in many of them (cleaned_data, the service's arguments). This filter also
hides any frame variable or POST value named ``my_number`` or holding a run of 12 digits.
"""

import re

from django.forms import BaseForm
from django.http import QueryDict
from django.views.debug import SafeExceptionReporterFilter

TWELVE_DIGITS = re.compile(r"(?<![0-9０-９])[0-9０-９]{12}(?![0-9０-９])")
_INSPECTED = (str, int, dict, list, tuple, set, QueryDict)


def _holds_a_my_number(value) -> bool:
    if isinstance(value, BaseForm):
        value = (getattr(value, "data", None), getattr(value, "cleaned_data", None))
    elif not isinstance(value, _INSPECTED):
        return False  # never repr() a queryset or a model here: it could query
    try:
        return bool(TWELVE_DIGITS.search(repr(value)))
    except Exception:
        return True


class MyNumberSafeExceptionReporterFilter(SafeExceptionReporterFilter):
    def get_post_parameters(self, request):
        params = super().get_post_parameters(request)
        if not params:
            return params
        cleansed = params.copy()
        for name, value in params.items():
            if "my_number" in name or _holds_a_my_number(value):
                cleansed[name] = self.cleansed_substitute
        return cleansed

    def get_traceback_frame_variables(self, request, tb_frame):
        return [
            (
                name,
                self.cleansed_substitute
                if "my_number" in name or "plain" in name or _holds_a_my_number(value)
                else value,
            )
            for name, value in super().get_traceback_frame_variables(request, tb_frame)
        ]
