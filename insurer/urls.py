from django.contrib import admin
from django.templatetags.static import static
from django.urls import path
from django.utils.functional import lazy
from django.views.generic import RedirectView

urlpatterns = [
    path("", RedirectView.as_view(url="/admin/", permanent=False)),
    # Browsers ask for /favicon.ico on pages without a <link rel="icon"> (PDFs, errors).
    path(
        "favicon.ico",
        RedirectView.as_view(url=lazy(static, str)("insurer/favicon.svg"), permanent=True),
    ),
    path("admin/", admin.site.urls),
]
