from django.contrib import admin
from django.urls import path
from django.views.generic import RedirectView

admin.site.site_header = "健康保険組合 資格管理"
admin.site.site_title = "資格管理"
admin.site.index_title = "業務メニュー"

urlpatterns = [
    path("", RedirectView.as_view(url="/admin/", permanent=False)),
    path("admin/", admin.site.urls),
]
