import io

import qrcode
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django_otp.plugins.otp_totp.models import TOTPDevice

from insurer.logins import otp_required


class Command(BaseCommand):
    help = (
        "2段階認証（確認コード）の端末を登録します。システム管理者が本人の立ち会いで実行し、"
        "本人が表示された QR コードを認証アプリで読み取ります。"
        "端末をなくしたときは --replace で登録し直します（古い端末は使えなくなります）。"
    )

    def add_arguments(self, parser):
        parser.add_argument("username", help="ログインのユーザー名")
        parser.add_argument(
            "--replace", action="store_true", help="登録済みの端末を無効にして登録し直す"
        )

    @transaction.atomic
    def handle(self, *args, username: str, replace: bool, **options):
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"ユーザー {username} は登録されていません。")
        devices = TOTPDevice.objects.filter(user=user)
        if devices.exists() and not replace:
            raise CommandError(
                f"{username} には端末が登録済みです。登録し直すときは --replace を付けてください。"
            )
        devices.delete()
        device = TOTPDevice.objects.create(user=user, name="認証アプリ", confirmed=True)
        self.write_enrollment(device)
        if not otp_required(user):
            self.stdout.write(
                "（この役割では確認コードは任意ですが、端末を登録したので以後は毎回必要です。）"
            )

    def write_enrollment(self, device: TOTPDevice) -> None:
        qr = qrcode.QRCode(border=1)
        qr.add_data(device.config_url)
        out = io.StringIO()
        qr.print_ascii(out=out)
        self.stdout.write(out.getvalue())
        self.stdout.write(
            f"{device.user.get_username()} の端末を登録しました。認証アプリ（Google Authenticator、"
            "Microsoft Authenticator など）で上の QR コードを読み取ってください。\n"
            "読み取れないときは次の URI またはキーを手で入力します（この画面は残さないこと）:\n"
            f"  {device.config_url}\n"
            f"  キー: {device.config_url.split('secret=')[1].split('&')[0]}\n"
            "ログイン画面の「確認コード」にアプリの6桁を入力します。"
        )
